#!/usr/bin/env bash
# Run the demo in a quick configuration into a scratch directory and check its
# outputs: the demo itself exits 1 when a sampler's sliced Wasserstein distance
# to the data is not below half the prior's, or the likelihood is not finite.
# usage: check_demo.sh DEMO [extra demo arguments]
set -euo pipefail
demo=$1; shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$demo" --out "$out" "$@" | tee "$out/log"
for f in demo.svg samples.csv model.scoresde; do
  [ -s "$out/$f" ] || { echo "missing or empty: $f"; exit 1; }
done
grep -q '^<svg ' "$out/demo.svg" && grep -q '</svg>' "$out/demo.svg" || { echo "demo.svg is not a whole SVG"; exit 1; }
# header + 3 sets of the requested samples
rows=$(($(wc -l < "$out/samples.csv") - 1))
[ "$rows" -gt 0 ] && [ $((rows % 3)) -eq 0 ] || { echo "samples.csv has $rows rows"; exit 1; }
grep -q 'bits/dim' "$out/log" || { echo "no likelihood reported"; exit 1; }
echo "demo outputs OK ($rows CSV rows)"
