#!/usr/bin/env bash
# Compare the built shared library's ABI with the committed baseline of the
# last release (lib/libscoresde.abi) using libabigail's abidiff. Additions are
# allowed; any incompatible change (a removed or changed function, a changed
# type) fails.
# usage: check_abi.sh LIBRARY BASELINE SRC_INCLUDE_DIR BUILD_INCLUDE_DIR
set -u
lib=$1 baseline=$2 src_inc=$3 build_inc=$4

abidiff --headers-dir2 "$src_inc" --headers-dir2 "$build_inc" --drop-private-types \
  --no-added-syms "$baseline" "$lib"
rc=$?
# abidiff's status is a bit mask: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible ABI change.
if (( rc & 3 )); then
  echo "FAIL: abidiff could not compare (status $rc)"
  exit 1
fi
if (( rc & 8 )); then
  echo "FAIL: incompatible ABI change against $baseline (see the report above)."
  echo "Symbols may only be added; restore the old signature and add a new function."
  exit 1
fi
if (( rc & 4 )); then
  echo "ABI changed compatibly against the baseline (additions only)."
fi
echo "ABI compatible with $baseline"
exit 0
