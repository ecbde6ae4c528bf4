#!/usr/bin/env bash
# Relay benchmark (about 2 minutes): berth vs the engine socket vs a socat relay, printed as a
# table (tests/bench/run-relay-bench.sh). Fails only if a client sees an error or a wrong
# reply under load; the ratios are printed, not asserted (the CI machine is shared and noisy).
set -euo pipefail
cd "$(dirname "$0")/../../.."
BENCH_ROUNDS=${BENCH_ROUNDS:-2} exec bash tests/bench/run-relay-bench.sh "${BERTH_BUILD_DIR:-$PWD/build}"
