#!/bin/sh
# Regenerate src/bindings.rs from the C headers with Debian's bindgen:
#   generate.sh <source include dir> <build include dir (version.h)> [output]
# Without an output path the declarations go to stdout (the meson test
# 'rust-bindgen' compares them with the committed file).
set -eu
src_inc=$1
build_inc=$2
out=${3:-/dev/stdout}
bindgen "$src_inc/scoresde.h" \
  --allowlist-function 'scoresde_.*' \
  --allowlist-type 'scoresde_.*' \
  --allowlist-var 'SCORESDE_.*' \
  --blocklist-item 'SCORESDE_VERSION_.*' \
  --default-enum-style consts \
  --no-prepend-enum-name \
  --no-layout-tests \
  --size_t-is-usize \
  --no-doc-comments \
  --use-core \
  --ctypes-prefix 'core::ffi' \
  -o "$out" \
  -- -I"$src_inc" -I"$build_inc"
