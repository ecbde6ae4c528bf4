#!/usr/bin/env bash
# ci-needs: sanitize-build
# Sanitizer suite (issue 6): berth and the unit tests with ASan + UBSan, from the clang build it
# shares with the fuzz suite (tests/ci/sanitize-build.sh; built there unless already built).
# Runs every unit test, then a representative subset of the integration tests against the
# sanitized `berth` (BERTH_BIN): the relay through the real docker CLI, hostile input and
# limits, TLS, access rules, the mounts filter, profiles, the engine-kill faults and the kernel
# forwarding path. The full integration suite under ASan does not fit CI's time budget on 2
# cores next to the other suites; the load test and the slow VM tests are left out
# (BERTH_ASAN_TESTS overrides the list). Every ASan/UBSan/LSan report (the daemons write theirs
# to files under $REPORTS) fails the suite and is printed.
# Env: BERTH_SAN_BUILD_DIR (default build-san), BERTH_ASAN_TESTS.
set -uo pipefail
cd "$(dirname "$0")/../../.."
TESTS=${BERTH_ASAN_TESTS:-"tests/integration/test_relay_cli.py tests/integration/test_relay_rules.py
  tests/integration/test_security_input.py tests/integration/test_security_tls.py
  tests/integration/test_security_access.py tests/integration/test_security_faults.py
  tests/integration/test_mounts.py tests/integration/test_profiles.py
  tests/integration/test_forwarding_nat.py"}
REPORTS=$(mktemp -d /tmp/b-asan-XXXXXX)
start=$SECONDS

BUILD=$(bash tests/ci/sanitize-build.sh) || { echo "sanitize: build failed"; exit 1; }
echo "sanitize: built in $((SECONDS - start))s"

# halt_on_error: the first report ends the process (and fails its test); log_path: reports
# of daemons whose stderr a test does not look at still reach us.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan"
export LSAN_OPTIONS="log_path=$REPORTS/lsan"

failed=0
t=$SECONDS
if ctest --test-dir "$BUILD" --output-on-failure -j 2 >"$REPORTS/ctest.log" 2>&1; then
  echo "sanitize: unit tests passed in $((SECONDS - t))s ($(grep -o '[0-9]*% tests passed.*' "$REPORTS/ctest.log" | tail -1))"
else
  failed=1
  echo "sanitize: unit tests FAILED"
  tail -60 "$REPORTS/ctest.log"
fi

t=$SECONDS
# shellcheck disable=SC2086
# RSS bounds mean nothing under ASan (shadow memory, quarantine): those tests are left out.
if BERTH_BIN=$BUILD/server/berth /usr/bin/python3 -m pytest -q -p no:cacheprovider \
  -k "not memory_bounded and not rss" $TESTS \
  >"$REPORTS/pytest.log" 2>&1; then
  echo "sanitize: integration subset passed in $((SECONDS - t))s: $(tail -1 "$REPORTS/pytest.log")"
else
  failed=1
  echo "sanitize: integration subset FAILED in $((SECONDS - t))s"
  tail -80 "$REPORTS/pytest.log"
fi

reports=$(find "$REPORTS" -name 'asan.*' -o -name 'ubsan.*' -o -name 'lsan.*' | sort)
if [ -n "$reports" ]; then
  failed=1
  echo "sanitize: sanitizer reports:"
  for r in $reports; do
    echo "--- $r"
    head -60 "$r"
  done
else
  echo "sanitize: no ASan/UBSan/LSan report"
fi
echo "sanitize: $((SECONDS - start))s in all"
[ -z "$reports" ] || echo "sanitize: reports kept in $REPORTS"
[ "$failed" -eq 0 ] && rm -rf "$REPORTS"
[ "$failed" -eq 0 ]
