#!/usr/bin/env bash
# A program outside the project (tests/consumer.c) against a DESTDIR install,
# each way a C user links it:
#   1. pkg-config, shared;
#   2. pkg-config --static, a fully static program (cc -static);
#   3. CMake's find_package(scoresde) from the staged (moved) prefix: the
#      targets scoresde::scoresde (shared) and scoresde::scoresde_static, and
#      a request for a later major version is refused.
# Every program is run and must find the staged library, not the build tree's.
# usage: check_consumer.sh BUILD_DIR PREFIX LIBDIR CC SOURCE CMAKE|-
set -euo pipefail
build=$1 prefix=$2 libdir=$3 cc=$4 source=$5 cmake=$6
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
source=$(realpath "$source")

meson install -C "$build" --destdir "$stage" --no-rebuild --quiet
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
export PKG_CONFIG_PATH=$stage$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
export LD_LIBRARY_PATH=$stage$libdir
# Pipes into `grep -q` would fail under pipefail when grep stops reading early.
loads() { [[ $(ldd "$1") == *"$2"* ]]; }

echo "=== pkg-config, shared"
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror -o "$stage/shared" "$source" \
  $(pkg-config --cflags --libs scoresde) -lm
loads "$stage/shared" "$stage$libdir/libscoresde.so.1" \
  || { echo "the shared consumer does not load the staged libscoresde.so.1"; exit 1; }
"$stage/shared"

echo "=== pkg-config --static, cc -static: $(pkg-config --static --libs scoresde)"
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror -static -o "$stage/static" "$source" \
  $(pkg-config --static --cflags --libs scoresde) -lm
if [[ $(readelf -d "$stage/static") == *NEEDED* ]]; then
  echo "the static consumer still needs shared libraries:"; readelf -d "$stage/static"; exit 1
fi
"$stage/static"

if [ "$cmake" = - ]; then
  echo "cmake not found: the CMake package was not tried"
  exit 0
fi
echo "=== CMake find_package(scoresde)"
mkdir "$stage/cmake-project"
cat >"$stage/cmake-project/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.13)
project(consumer C)
find_package(scoresde 2 QUIET)
if(scoresde_FOUND)
  message(FATAL_ERROR "find_package(scoresde 2) accepted version \${scoresde_VERSION}")
endif()
find_package(scoresde 1.0 REQUIRED)
message(STATUS "scoresde \${scoresde_VERSION} from \${scoresde_DIR}")
add_executable(consumer_shared "$source")
target_link_libraries(consumer_shared PRIVATE scoresde::scoresde m)
add_executable(consumer_static "$source")
target_link_libraries(consumer_static PRIVATE scoresde::scoresde_static m)
CMAKE
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
"$cmake" -S "$stage/cmake-project" -B "$stage/cmake-build" "${generator[@]}" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$stage$prefix" -DCMAKE_BUILD_TYPE=Release
grep -q "^scoresde_DIR:PATH=$stage" "$stage/cmake-build/CMakeCache.txt" \
  || { echo "CMake did not use the staged package"; exit 1; }
"$cmake" --build "$stage/cmake-build"
loads "$stage/cmake-build/consumer_shared" "$stage$libdir/libscoresde.so.1" \
  || { echo "consumer_shared does not load the staged libscoresde.so.1"; exit 1; }
if loads "$stage/cmake-build/consumer_static" libscoresde; then
  echo "consumer_static loads libscoresde.so"; exit 1
fi
"$stage/cmake-build/consumer_shared"
"$stage/cmake-build/consumer_static"
