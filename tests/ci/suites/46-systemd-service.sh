#!/usr/bin/env bash
# berth@.socket / berth@.service under a real systemd (issue 16): `berth service install -p P`
# enables the socket unit, a `docker version` on the profile's socket starts berth@P.service by
# activation and gets an answer from the guest, `berth service remove` and `berth delete` leave
# nothing running. Needs a booted systemd (PID 1) on this machine; where there is none (CI
# containers, these sandboxes), it reports "not run" and why -- never passed.
# (systemd-socket-activate drives the same daemon code in tests/integration/test_socket_activation.py.)
set -uo pipefail
cd "$(dirname "$0")/../../.."
BERTH=${BERTH_BIN:-$PWD/build/server/berth}
P=svc-ci
if [ ! -d /run/systemd/system ]; then
  echo "not run: no booted systemd here (PID 1 is $(ps -o comm= -p 1)); a systemd-nspawn root would need the systemd-container package and a debootstrap, not done in this suite"
  exit 77
fi
[ "$(id -u)" = 0 ] || { echo "not run: needs root (system units)"; exit 77; }
fail() { echo "systemd-service: FAILED: $*"; "$BERTH" service remove -p $P >/dev/null 2>&1; "$BERTH" delete -f --data -p $P >/dev/null 2>&1; exit 1; }
export HOME=/root
unset BERTH_HOME
"$BERTH" start --vm-type ns --lazy -p $P >/dev/null || fail "berth start -p $P"
"$BERTH" stop -p $P >/dev/null || fail "berth stop"
"$BERTH" service install -p $P || fail "berth service install"
systemctl is-active --quiet berth@$P.socket || fail "berth@$P.socket is not active"
systemctl is-active --quiet berth@$P.service && fail "the service runs before any request"
docker -H unix:///root/.berth/$P/docker.sock version --format '{{.Server.Version}}' || fail "docker version"
systemctl is-active --quiet berth@$P.service || fail "berth@$P.service was not started by activation"
"$BERTH" status -p $P --json | grep -q '"socketActivated":true' || fail "status does not say socketActivated"
"$BERTH" service remove -p $P || fail "berth service remove"
systemctl is-active --quiet berth@$P.service && fail "the service still runs after remove"
"$BERTH" delete -f --data -p $P || fail "berth delete"
echo "systemd-service: passed"
