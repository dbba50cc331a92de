#!/usr/bin/env bash
# Install the build into a scratch DESTDIR, then build every example against
# the installed library with nothing but `pkg-config --cflags --libs scoresde`
# (plus -lm, which the examples use themselves), and run one of them.
# usage: check_examples_install.sh BUILD_DIR PREFIX LIBDIR CC EXAMPLE.c... -- RUN_NAME [ARGS...]
set -euo pipefail
build=$1 prefix=$2 libdir=$3 cc=$4
shift 4
sources=()
while [ "$1" != "--" ]; do sources+=("$1"); shift; done
shift
run=$1; shift
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

meson install -C "$build" --destdir "$stage" --no-rebuild --quiet
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
export PKG_CONFIG_PATH=$stage$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage

# The demo draws with the scoresde tool's SVG helpers (bindings/cli/svg.c),
# which a user copies along with it.
cli_dir=$(cd "$(dirname "$0")/../bindings/cli" && pwd)
for src in "${sources[@]}"; do
  name=$(basename "$src" .c)
  extra=()
  if grep -q '#include "svg.h"' "$src"; then extra=(-I"$cli_dir" "$cli_dir/svg.c"); fi
  # shellcheck disable=SC2046
  "$cc" -std=c11 -Wall -Wextra -Werror -o "$stage/$name" "$src" "${extra[@]}" \
    $(pkg-config --cflags --libs scoresde) -lm
  echo "built $name against the installed library"
done
# The program must resolve libscoresde from the stage, not from the build tree.
LD_LIBRARY_PATH=$stage$libdir ldd "$stage/$run" | grep libscoresde
LD_LIBRARY_PATH=$stage$libdir "$stage/$run" "$@"
