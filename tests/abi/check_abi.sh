#!/usr/bin/env bash
# Compare the built shared library's ABI with the committed baseline of the
# 1.0.0 release (lib/libscoresde.abi) using libabigail. Added functions pass;
# any other change reported by abidiff fails: a removed function, a changed
# parameter or return type, a changed public struct (except a field appended
# to a versioned struct: versioned-structs.abignore).
# usage: check_abi.sh LIBRARY BASELINE SRC_INCLUDE_DIR BUILD_INCLUDE_DIR WORK_DIR
set -u
lib=$1 baseline=$2 src_inc=$3 build_inc=$4 work=$5
here=$(cd "$(dirname "$0")" && pwd)
current="$work/libscoresde-current.abi"

if ! "$here/abi-description" "$lib" "$src_inc" "$build_inc" "$current"; then
  echo "FAIL: abidw could not describe $lib"
  exit 1
fi
abidiff --suppressions "$here/versioned-structs.abignore" --no-added-syms \
  "$baseline" "$current"
rc=$?
# abidiff's status is a bit mask: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible ABI change.
if (( rc & 3 )); then
  echo "FAIL: abidiff could not compare (status $rc)"
  exit 1
fi
if (( rc != 0 )); then
  echo "FAIL: the ABI changed against $baseline (see the report above)."
  echo "Released functions and types may not change; add a new function instead."
  exit 1
fi
echo "ABI compatible with $baseline"
