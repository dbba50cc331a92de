#!/usr/bin/env bash
# Install the build into a scratch DESTDIR, then compile and run a program
# against it using nothing but `pkg-config --cflags --libs scoresde`.
# usage: check_install.sh BUILD_DIR PREFIX LIBDIR CC SOURCE
set -euo pipefail
build=$1 prefix=$2 libdir=$3 cc=$4 source=$5
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

meson install -C "$build" --destdir "$stage" --no-rebuild --quiet
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac

export PKG_CONFIG_PATH=$stage$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
echo "cflags: $(pkg-config --cflags scoresde)"
echo "libs:   $(pkg-config --libs scoresde)"
echo "static: $(pkg-config --static --libs scoresde)"
pkg-config --static --libs scoresde | grep -q -- '-lblis' || { echo "Libs.private lacks BLIS"; exit 1; }
for f in include/scoresde.h include/scoresde/version.h include/scoresde/common.h; do
  [ -f "$stage$prefix/$f" ] || { echo "not installed: $prefix/$f"; exit 1; }
done
[ -f "$stage$libdir/libscoresde.a" ] || { echo "not installed: libscoresde.a"; exit 1; }
readelf -d "$stage$libdir/libscoresde.so.1" | grep -q 'SONAME.*libscoresde.so.1' \
  || { echo "soname is not libscoresde.so.1"; exit 1; }

# shellcheck disable=SC2046
"$cc" -o "$stage/smoke" "$source" $(pkg-config --cflags --libs scoresde)
LD_LIBRARY_PATH=$stage$libdir "$stage/smoke"
