#!/usr/bin/env bash
# README's test command: installs what the tests need (Debian packages, npm modules), builds
# berth, and runs every suite: unit tests, integration tests against a real dockerd, then each
# script in tests/ci/suites/ in name order (fuzz, sanitizers, the slow VM suite, ...); the lint
# suite and the fuzz/sanitize suites' clang build run at nice 19 from the integration suite on.
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
# they want it. Their output is printed when they are collected; the lint suite and the clang
# build run on beside the suites after it.
selected() { [ -z "${BERTH_SUITES:-}" ] || [[ " $BERTH_SUITES " == *" $1 "* ]]; }
declare -A bg_pid=() bg_out=() bg_rc=() bg_secs=()
background() {  # background NAME CMD...: start one
  local name=$1
  shift
  bg_out[$name]=$(mktemp)
  bg_secs[$name]=$SECONDS
  log "$name: started in the background (nice 19)"
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
  echo "($1 ran for ${bg_secs[$1]}s in the background)"
  return "${bg_rc[$1]}"
}
selected lint && background lint bash tests/ci/suites/15-lint.sh
if selected fuzz || selected sanitize; then background sanitize-build bash tests/ci/sanitize-build.sh; fi
# The VM suite's guest image (berth image build: debootstrap, ~6-10 min cold) and the systemd
# suite's root (debootstrap, ~4 min cold) mostly wait on Debian's mirror, so they are built
# beside the integration suite too; their suites then find them in the cache (a failure here is
# only printed: the suite builds it again and reports).
selected vm-e2e && background guest-image "$BERTH_BIN" image build
selected systemd-service && background systemd-root bash tests/harness/systemd-root.sh ensure

suite integration timeout -s INT -k 60 2400 /usr/bin/python3 -m pytest -q -rfE -p no:cacheprovider \
  --durations=20 tests/integration

for name in guest-image systemd-root; do
  [ -n "${bg_pid[$name]:-}" ] || continue
  finish "$name"
  log "$name"
  replay "$name" | tail -3 || true
done

# The other suites run in three phases, each in name order. A suite says what it needs in a
# line `# ci-needs: sanitize-build` (it runs on the clang build) or `# ci-needs: quiet` (a
# benchmark: nothing else may run beside it). First the suites that need neither (the package,
# the systemd units, the VM suite: ~17 min), while the clang build, if still running, takes the
# CPU they leave at nice 19; before, every suite waited for it (~13 min of CI). Then those on the
# clang build, then the benchmarks on a quiet machine.
suite_names() {  # suite_names NEED: the suites whose ci-needs line is NEED ("" for none)
  local s need
  for s in tests/ci/suites/*.sh; do
    [ -e "$s" ] || continue
    need=$(sed -n 's/^# ci-needs: *//p' "$s" | head -1)
    [ "$need" = "$1" ] && echo "$s"
  done
}
run_suites() {  # run_suites NEED
  local s name
  for s in $(suite_names "$1"); do
    name=$(basename "$s" .sh)
    name=${name#[0-9][0-9]-}
    [ "$name" = lint ] && continue  # ran in the background
    suite "$name" bash "$s"
  done
}
run_suites ""
# The lint suite is counted like any other, collected only now: its whole-tree clang-tidy run
# (~25 min at nice 19 beside the other work) outlasts the integration suite, and waiting for it
# there idled the critical path for ~6 min. The clang build is only waited for (the fuzz and
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
run_suites sanitize-build
run_suites quiet

log "summary"
[ ${#failed_names[@]} -eq 0 ] || echo "failed suites: ${failed_names[*]}"
for line in "${not_run_lines[@]}"; do echo "not run: $line"; done
echo "suites: $passed passed, $failed failed, $not_run not run"
[ "$failed" -eq 0 ]
