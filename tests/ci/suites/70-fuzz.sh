#!/usr/bin/env bash
# ci-needs: sanitize-build
# Fuzz suite (issue 6): builds the libFuzzer targets of tests/fuzz/ with clang-14 (ASan+UBSan,
# coverage) in the clang build it shares with the sanitizer suite (tests/ci/sanitize-build.sh),
# then runs each for FUZZ_SECONDS (default 25) from its
# checked-in seed corpus (tests/fuzz/corpus/<Name>/, read-only here: new inputs go to a temp
# dir) with its dictionary if one exists. Fails on any crash, leak, sanitizer report or
# per-input timeout; a reproducer is kept under $BUILD/fuzz-artifacts/. Prints, per target, the
# runs, the coverage and how many inputs it kept.
# Env: BERTH_SAN_BUILD_DIR (default build-san), FUZZ_SECONDS, FUZZ_TARGETS (names to run).
set -uo pipefail
cd "$(dirname "$0")/../../.."
SECONDS_EACH=${FUZZ_SECONDS:-25}

start=$SECONDS
BUILD=$(bash tests/ci/sanitize-build.sh) || { echo "fuzz: build failed"; exit 1; }
echo "fuzz: targets built in $((SECONDS - start))s"

artifacts=$BUILD/fuzz-artifacts
mkdir -p "$artifacts"
failed=0
ran=0
for target in "$BUILD"/tests/fuzz/*Fuzz; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]]; then continue; fi
  seeds=tests/fuzz/corpus/${name%Fuzz}
  dict=tests/fuzz/${name%Fuzz}.dict
  work=$(mktemp -d /tmp/b-fuzz-XXXXXX)
  args=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/$name-")
  [ -f "$dict" ] && args+=(-dict="$dict")
  log=$artifacts/$name.log
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$target" "${args[@]}" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  ran=$((ran + 1))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  kept=$(find "$work" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    echo "fuzz: $name ok: ${SECONDS_EACH}s, ${runs:-?} runs, ${cov:-cov: ?}, $kept new inputs"
  else
    failed=$((failed + 1))
    echo "fuzz: $name FAILED (exit $rc): see $log; reproducer(s):"
    ls "$artifacts" | grep "^$name-" | sed 's/^/  /'
    grep -E 'ERROR|SUMMARY|runtime error|Timeout|leak' "$log" | head -20
  fi
  rm -rf "$work"
done
echo "fuzz: $ran target(s) run, $failed failed, $((SECONDS - start))s in all"
[ "$ran" -gt 0 ] && [ "$failed" -eq 0 ]
