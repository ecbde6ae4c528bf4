#!/usr/bin/env bash
# ci-needs: quiet
# Relay benchmark (about 3.5 minutes): berth (twice: the run's noise floor) vs the engine socket
# vs socat and HAProxy relays, printed as a table (tests/bench/run-relay-bench.sh). 3 rounds of
# 1 s and 256 MiB archives, so that the table shows real medians, plus berth's and HAProxy's
# memory with 1000 connections (~25 s, paid for by the smaller archives); the full form is
# run-relay-bench.sh itself. Fails only if a client sees an error or a wrong reply (status or
# body) under load; the ratios are printed, not asserted (the CI machine is shared and noisy).
set -euo pipefail
cd "$(dirname "$0")/../../.."
BENCH_ROUNDS=${BENCH_ROUNDS:-3} BENCH_SECONDS=${BENCH_SECONDS:-1} BENCH_ARCHIVE_MIB=${BENCH_ARCHIVE_MIB:-256} \
  exec bash tests/bench/run-relay-bench.sh "${BERTH_BUILD_DIR:-$PWD/build}"
