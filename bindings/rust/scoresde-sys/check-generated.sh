#!/bin/sh
# The committed src/bindings.rs must be what generate.sh produces from the
# current headers:  check-generated.sh <source include dir> <build include dir>
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$here/generate.sh" "$1" "$2" "$tmp"
if ! diff -u "$here/src/bindings.rs" "$tmp"; then
  echo "bindings/rust/scoresde-sys/src/bindings.rs is stale: run" >&2
  echo "  bindings/rust/scoresde-sys/generate.sh include <build>/include bindings/rust/scoresde-sys/src/bindings.rs" >&2
  exit 1
fi
