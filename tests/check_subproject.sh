#!/usr/bin/env bash
# libscoresde as a Meson subproject of a scratch parent project, through the
# shipped wrap (packaging/meson/libscoresde.wrap) and dependency('scoresde'):
#   - with -Ddefault_library=static the parent's program embeds the library,
#     with shared it loads libscoresde.so.1 (one build: both are made of the
#     same objects, so the switch only relinks);
#   - the subproject registers no tests or benchmarks, builds no examples and
#     installs nothing into the parent's prefix;
#   - the program (tests/consumer.c) runs.
# usage: check_subproject.sh [WORK_DIR]   (default: a temporary directory)
set -euo pipefail
fail() { echo "FAILED: $*"; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
trap 'rm -rf "$work"' EXIT
parent=$work/parent
# The tracked and new (not ignored) files, as a submodule would hold them.
mkdir -p "$parent/subprojects/libscoresde"
(cd "$root" && git ls-files -z --cached --others --exclude-standard \
   | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
   | xargs -0 cp --parents -t "$parent/subprojects/libscoresde")
cp "$root/packaging/meson/libscoresde.wrap" "$parent/subprojects/"
cp "$root/tests/consumer.c" "$parent/"
cat >"$parent/meson.build" <<'MESON'
project('parent', 'c', default_options: ['c_std=c11'])
m = meson.get_compiler('c').find_library('m')
executable('consumer', 'consumer.c', dependencies: [dependency('scoresde'), m], install: true)
MESON

build=$work/build
meson setup "$build" "$parent" --force-fallback-for=scoresde -Ddefault_library=static \
  -Dbuildtype=release --prefix=/usr >"$work/setup.log" \
  || { cat "$work/setup.log"; exit 1; }
ninja -C "$build" -j2 >"$work/ninja.log" || { tail -40 "$work/ninja.log"; exit 1; }

# (No pipes into grep -q: under pipefail they fail when grep stops early.)
if [[ $(readelf -d "$build/consumer") == *libscoresde* ]]; then
  fail "with default_library=static the program loads libscoresde.so"
fi
"$build/consumer"

count() { meson introspect "$build" "$1" | /usr/bin/python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'; }
tests=$(count --tests) benchmarks=$(count --benchmarks)
[ "$tests" -eq 0 ] || fail "the subproject registered $tests tests"
[ "$benchmarks" -eq 0 ] || fail "the subproject registered $benchmarks benchmarks"
[ ! -e "$build/subprojects/libscoresde/examples/scoresde-demo" ] || fail "the examples were built"
meson install -C "$build" --destdir "$work/stage" --quiet
installed=$(cd "$work/stage" && find . -type f | sort)
[ "$installed" = "./usr/bin/consumer" ] || fail "installed more than the parent's program: $installed"

meson configure "$build" -Ddefault_library=shared -Dlibscoresde:default_library=shared >/dev/null
ninja -C "$build" -j2 >"$work/ninja.log" || { tail -40 "$work/ninja.log"; exit 1; }
[[ $(readelf -d "$build/consumer") == *"Shared library: [libscoresde.so.1]"* ]] \
  || fail "with default_library=shared the program does not load libscoresde.so.1"
"$build/consumer"
echo "subproject OK: static and shared, no tests, benchmarks or installed files of its own"
