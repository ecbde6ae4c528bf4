#!/usr/bin/env bash
# README's test command: installs what the tests need (Debian packages, npm modules), builds
# berth, and runs every suite: unit tests, integration tests against a real dockerd, then each
# script in tests/ci/suites/ in name order (fuzz, sanitizers, the slow VM suite, ...); the lint
# suite and the fuzz/sanitize suites' clang build run at nice 19 beside the integration suite.
# Env: BERTH_BUILD_DIR (default build), BERTH_SUITES (space-separated names to run, default
# all), BERTH_SKIP_INSTALL=1 to skip apt/npm. Ends with one line "N passed, N failed, N not run".
# A suite that cannot run on this machine exits 77 after printing "not run: REASON" as its last
# line; it is listed as not run with that reason and never counted as passed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BERTH_BUILD_DIR:-$ROOT/build}
export BERTH_BIN=$BUILD/server/berth
passed=0
failed=0
failed_names=()
not_run=0
not_run_lines=()

log() { printf '\n=== %s: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
suite() {  # suite NAME CMD...: run one suite, count it
  local name=$1
  shift
  if [ -n "${BERTH_SUITES:-}" ] && [[ " $BERTH_SUITES " != *" $name "* ]]; then return 0; fi
  log "suite $name"
  local start=$SECONDS out rc
  out=$(mktemp)
  "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    log "suite $name passed in $((SECONDS - start))s"
  elif [ "$rc" -eq 77 ]; then
    not_run=$((not_run + 1))
    not_run_lines+=("$name ($(grep -o "not run:.*" "$out" | tail -1 | sed "s/^not run: *//"))")
    log "suite $name NOT RUN"
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    log "suite $name FAILED in $((SECONDS - start))s"
  fi
  rm -f "$out"
}

if [ "${BERTH_SKIP_INSTALL:-0}" != 1 ]; then
  log "installing test dependencies"
  bash tests/ci/install-deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }
fi

log "building"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_WERROR=ON >/dev/null &&
  cmake --build "$BUILD" -j "$(nproc)" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

suite unit ctest --test-dir "$BUILD" --output-on-failure -j 2

# Work that needs no quiet machine runs at the lowest priority beside the integration suite,
# which mostly waits on dockerd, its clients and its timers: the lint suite, the clang build the
# fuzz and sanitize suites share, and the VM suite's guest image (mostly a download). Run after
# it, they cost ~30 min of CI's wall time; beside it, nice 19 gives the tests the CPU whenever
# they want it. Their output is printed when they are collected.
selected() { [ -z "${BERTH_SUITES:-}" ] || [[ " $BERTH_SUITES " == *" $1 "* ]]; }
declare -A bg_pid=() bg_out=() bg_rc=() bg_secs=()
background() {  # background NAME CMD...: start one
  local name=$1
  shift
  bg_out[$name]=$(mktemp)
  bg_secs[$name]=$SECONDS
  log "$name: started beside the integration suite (nice 19)"
  nice -n 19 "$@" >"${bg_out[$name]}" 2>&1 &
  bg_pid[$name]=$!
}
finish() {  # finish NAME: wait for it (in this shell: its child); keeps its exit code
  bg_rc[$1]=0
  wait "${bg_pid[$1]}" || bg_rc[$1]=$?
  bg_secs[$1]=$((SECONDS - bg_secs[$1]))
}
replay() {  # replay NAME: its output and exit code, as if it ran now (`suite` runs it)
  cat "${bg_out[$1]}"
  rm -f "${bg_out[$1]}"
  echo "($1 ran for ${bg_secs[$1]}s beside the integration suite)"
  return "${bg_rc[$1]}"
}
selected lint && background lint bash tests/ci/suites/15-lint.sh
if selected fuzz || selected sanitize; then background sanitize-build bash tests/ci/sanitize-build.sh; fi
# The VM suite's guest image (berth image build: debootstrap, ~6-10 min cold) mostly waits on
# Debian's mirror, so it is built beside the integration suite too; the VM suite then finds it
# in the cache (a failure here is only printed: the VM suite builds it again and reports).
selected vm-e2e && background guest-image "$BERTH_BIN" image build

# No -x: the suite runs to the end and pytest's summary lists every failure (-rfE), not only the
# first; --durations names the slowest tests, where a suite that grows too slow is shortened.
# A green run took 10-26 min on 2 cores in 2026-12 (209 tests; 26 min with a browser run beside
# it); the 40-min bound keeps a hang from eating CI's budget, and its SIGINT still makes pytest
# print the failures seen so far.
suite integration timeout -s INT -k 60 2400 /usr/bin/python3 -m pytest -q -rfE -p no:cacheprovider \
  --durations=20 tests/integration

# The lint suite is counted like any other; the clang build is only waited for (the fuzz and
# sanitize suites build incrementally on top of it and report its errors themselves).
if [ -n "${bg_pid[lint]:-}" ]; then
  finish lint
  suite lint replay lint
fi
if [ -n "${bg_pid[sanitize-build]:-}" ]; then
  finish sanitize-build
  log "sanitize-build"
  replay sanitize-build | tail -5 || true
fi
if [ -n "${bg_pid[guest-image]:-}" ]; then
  finish guest-image
  log "guest-image"
  replay guest-image | tail -3 || true
fi
for s in tests/ci/suites/*.sh; do
  [ -e "$s" ] || continue
  name=$(basename "$s" .sh)
  name=${name#[0-9][0-9]-}
  [ "$name" = lint ] && continue  # ran beside the integration suite
  suite "$name" bash "$s"
done

log "summary"
[ ${#failed_names[@]} -eq 0 ] || echo "failed suites: ${failed_names[*]}"
for line in "${not_run_lines[@]}"; do echo "not run: $line"; done
echo "suites: $passed passed, $failed failed, $not_run not run"
[ "$failed" -eq 0 ]
