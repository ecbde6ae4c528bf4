#!/usr/bin/env bash
# Runs berth_bench_relay: a real dockerd (tests/harness/dockerd-ns.sh), berth in front of it,
# and a plain `socat UNIX-LISTEN,fork UNIX-CONNECT` relay (what users would otherwise use),
# then prints the table (berth vs direct vs socat). Leaves nothing running.
#   tests/bench/run-relay-bench.sh [BUILD_DIR] [-- extra berth_bench_relay args]
# Env: BENCH_SECONDS (2), BENCH_ROUNDS (3), BENCH_ARCHIVE_MIB (1024).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:-${BERTH_BUILD_DIR:-$ROOT/build}}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
BERTH=$BUILD/server/berth
BENCH=$BUILD/tests/bench/berth_bench_relay
[ -x "$BERTH" ] && [ -x "$BENCH" ] || { echo "build $BERTH and $BENCH first" >&2; exit 1; }

NAME=relay-bench-$$
DIR=$(mktemp -d /tmp/b-rbench-XXXX)
berth_pid=""
nospin_pid=""
socat_pid=""
cleanup() {
  local rc=$?
  set +e
  # socat dies of the SIGTERM (status 143): that is not the benchmark's result.
  for pid in $berth_pid $nospin_pid $socat_pid; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  bash tests/harness/dockerd-ns.sh stop "$NAME" "$DIR"
  rm -rf "$DIR"
  exit "$rc"
}
trap cleanup EXIT

bash tests/harness/dockerd-ns.sh start "$NAME" "$DIR/engine" >/dev/null
ENGINE=$DIR/engine/docker.sock
"$BERTH" daemon --socket "$DIR/berth.sock" --upstream "unix://$ENGINE" >"$DIR/berth.log" 2>&1 &
berth_pid=$!
# The same relay without its post-work spin (IoLoop.h): what the spin buys and costs.
"$BERTH" daemon --spin-us 0 --socket "$DIR/nospin.sock" --upstream "unix://$ENGINE" >"$DIR/nospin.log" 2>&1 &
nospin_pid=$!
socat UNIX-LISTEN:"$DIR/socat.sock",fork UNIX-CONNECT:"$ENGINE" 2>"$DIR/socat.log" &
socat_pid=$!
for _ in $(seq 1 100); do [ -S "$DIR/berth.sock" ] && [ -S "$DIR/nospin.sock" ] && [ -S "$DIR/socat.sock" ] && break; sleep 0.05; done
DOCKER_HOST=unix://$ENGINE /usr/local/bin/docker run -d --name bench bb sleep 3600 >/dev/null

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "engine: dockerd $(DOCKER_HOST=unix://$ENGINE /usr/local/bin/docker version --format '{{.Server.Version}}'), berth $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(basename "$BUILD"))"
"$BENCH" --target direct="$ENGINE" --target berth="$DIR/berth.sock" --target berth-nospin="$DIR/nospin.sock" \
  --target socat="$DIR/socat.sock" --relay-pid berth=$berth_pid --relay-pid berth-nospin=$nospin_pid \
  --container bench --seconds "${BENCH_SECONDS:-2}" --rounds "${BENCH_ROUNDS:-3}" \
  --archive-mib "${BENCH_ARCHIVE_MIB:-1024}" "$@"
echo "berth peak RSS: $(grep VmHWM /proc/$berth_pid/status | awk '{print $2, $3}')"
