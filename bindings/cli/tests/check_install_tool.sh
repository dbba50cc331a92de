#!/usr/bin/env bash
# Install the build into a scratch DESTDIR and check that the scoresde tool
# and its man page are there, that the installed program runs against the
# installed library, and that the man page formats without warnings.
# usage: check_install_tool.sh BUILD_DIR PREFIX LIBDIR BINDIR MANDIR
set -euo pipefail
build=$1 prefix=$2 libdir=$3 bindir=$4 mandir=$5
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --destdir "$stage" --no-rebuild --quiet
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
case $bindir in /*) ;; *) bindir=$prefix/$bindir ;; esac
case $mandir in /*) ;; *) mandir=$prefix/$mandir ;; esac
tool=$stage$bindir/scoresde
page=$stage$mandir/man1/scoresde.1
[ -x "$tool" ] || { echo "not installed: $bindir/scoresde"; exit 1; }
[ -f "$page" ] || { echo "not installed: $mandir/man1/scoresde.1"; exit 1; }
# ldd's output taken whole first: with pipefail, "ldd | grep -q" fails when
# grep exits at its match and ldd then dies of SIGPIPE.
libs=$(LD_LIBRARY_PATH=$stage$libdir ldd "$tool")
case $libs in
  *"$stage$libdir/libscoresde.so.1"*) ;;
  *) echo "the installed tool does not load the installed library:"; echo "$libs"; exit 1 ;;
esac
LD_LIBRARY_PATH=$stage$libdir "$tool" --version
if command -v groff >/dev/null; then
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1 || true)
  [ -z "$warnings" ] || { echo "scoresde.1: $warnings"; exit 1; }
  echo "scoresde.1 formats without warnings"
fi
