#!/usr/bin/env bash
# ci-needs: quiet
# Port-forwarding benchmark, short form (about a minute): berth's forward vs docker-proxy vs
# socat vs direct, TCP both ways, short connections/s, UDP at fixed offered rates (1 s each), the
# forward's open/close latency. Prints the tables; fails
# only if the benchmark cannot run, never on the numbers (a shared CI machine is too noisy to
# judge them; README's Performance section has a full run).
set -euo pipefail
cd "$(dirname "$0")/../../.."
exec timeout 600 /usr/bin/python3 tests/bench/forwarding_bench.py --seconds 2 --rounds 1 --udp-seconds 1
