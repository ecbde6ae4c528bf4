#!/usr/bin/env bash
# One clang build for the fuzz and sanitizer suites: ASan + UBSan everywhere, libFuzzer coverage
# (-fsanitize=fuzzer-no-link) in every library, the fuzz targets, berth and the unit tests.
# Before, each suite built the tree on its own (gcc ASan for one, clang for the other): two cold
# builds, ~40 min of CI's 2 cores. The coverage hooks cost little at run time (the sanitizer
# runtime defines them as no-ops outside a fuzzer), and -O1 with line tables only keeps the
# build short while reports still name file:line.
# Builds into ${BERTH_SAN_BUILD_DIR:-build-san} (an existing build is reused incrementally); the
# compiler's output goes to stderr; prints the build dir's absolute path on stdout.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BERTH_SAN_BUILD_DIR:-build-san}
flags="-O1 -gline-tables-only -DNDEBUG"
start=$SECONDS
CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBERTH_SANITIZE=ON -DBERTH_FUZZ=ON -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" >&2 || { echo "sanitize-build: configure failed" >&2; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" >&2 || { echo "sanitize-build: build failed" >&2; exit 1; }
echo "sanitize-build: $BUILD built in $((SECONDS - start))s" >&2
(cd "$BUILD" && pwd)
