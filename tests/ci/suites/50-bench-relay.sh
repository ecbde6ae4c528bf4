#!/usr/bin/env bash
# ci-needs: quiet
# Relay benchmark (about 4 minutes): berth (twice: the run's noise floor) vs the engine socket
# vs socat and HAProxy relays, printed as a table (tests/bench/run-relay-bench.sh): each request
# row 3 s per target in 100 ms slices taken in turns, 15 rounds of 64 MiB archives, one 1 GiB
# copy through berth for its peak RSS, and berth's and HAProxy's memory with 1000 connections;
# the full form (5 s per row) is run-relay-bench.sh itself. Fails only if a client sees an error
# or a wrong reply (status or body) under load; the ratios are printed, not asserted (the CI
# machine is shared and noisy).
set -euo pipefail
cd "$(dirname "$0")/../../.."
BENCH_SECONDS=${BENCH_SECONDS:-3} exec bash tests/bench/run-relay-bench.sh "${BERTH_BUILD_DIR:-$PWD/build}"
