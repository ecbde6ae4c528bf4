#!/usr/bin/env bash
# ci-needs: quiet
# containerd relay benchmark (about 50 s): ctr images import/export of a 128 MiB image through
# berth's containerd.sock versus the guest's containerd socket, socat and HAProxy, ratios printed
# (tests/bench/containerd_bench.py; 128 MiB since the two comparison relays doubled its time). Fails only if a ctr call fails; the ratio is printed, not
# asserted (the CI machine is shared and noisy).
set -euo pipefail
cd "$(dirname "$0")/../../.."
BERTH_BIN=${BERTH_BIN:-${BERTH_BUILD_DIR:-$PWD/build}/server/berth} \
  exec /usr/bin/python3 tests/bench/containerd_bench.py --mib "${BENCH_CONTAINERD_MIB:-128}" \
  --rounds "${BENCH_ROUNDS:-2}"
