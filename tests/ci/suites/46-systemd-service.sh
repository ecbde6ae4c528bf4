#!/usr/bin/env bash
# berth@.socket / berth@.service under a real systemd (issue 16). This machine's PID 1 is not
# systemd, so the suite boots one: a cached Debian root with systemd as PID 1 in systemd-nspawn
# (tests/harness/systemd-root.sh), the build's berth bound at /usr/local/bin/berth, the ns
# driver's engine from the root's docker.io. Inside it:
#   system units: `berth service install -p P` enables berth@P.socket and starts nothing else; a
#   `docker version` from the host on the profile's socket starts berth@P.service by activation
#   (systemctl says so: TriggeredBy the socket), the daemon boots the guest and the engine
#   answers; a `docker run` through it prints; `berth status` says socketActivated;
#   `berth service remove` stops both units and removes the socket; `berth delete` leaves the
#   profile folder empty of sockets.
#   user units: the same through root's user manager (systemctl --user, user@0.service).
# Timing: the first run builds the root (debootstrap, ~4 min); later runs reuse it (a run ~1 min).
set -uo pipefail
cd "$(dirname "$0")/../../.."
BERTH=${BERTH_BIN:-$PWD/build/server/berth}
SR="bash $PWD/tests/harness/systemd-root.sh"
say() { echo "systemd-service: $*"; }

[ "$(id -u)" = 0 ] || { echo "not run: needs root (systemd-nspawn, the ns driver)"; exit 77; }
command -v systemd-nspawn >/dev/null ||
  { echo "not run: systemd-nspawn is not installed (apt-get install systemd-container)"; exit 77; }
[ -x "$BERTH" ] || { echo "systemd-service: FAILED: no berth at $BERTH"; exit 1; }

start=$SECONDS
$SR ensure >/dev/null || { echo "systemd-service: FAILED: building the systemd root"; exit 1; }
say "systemd root ready in $((SECONDS - start))s"

RUN=$(mktemp -d /tmp/b-sd-XXXX)
HOMEDIR=$RUN/berth  # the container's /root/.berth
mkdir -m 700 "$HOMEDIR"
cleanup() {
  $SR stop "$RUN" >/dev/null 2>&1
  # Engine state the container left in the bound folder (mounts died with its namespaces).
  rm -rf "$RUN"
}
trap cleanup EXIT
fail() {
  echo "systemd-service: FAILED: $*"
  [ -f "$RUN/console.log" ] && tail -5 "$RUN/console.log" | sed 's/^/systemd-service:   console: /'
  for p in svc-ci svc-user; do
    [ -f "$HOMEDIR/$p/daemon.log" ] && tail -5 "$HOMEDIR/$p/daemon.log" | sed "s/^/systemd-service:   $p daemon.log: /"
  done
  exit 1
}
inside() { $SR run "$RUN" "$@"; }
user() { $SR run "$RUN" env XDG_RUNTIME_DIR=/run/user/0 "$@"; }

t=$SECONDS
$SR boot "$RUN" --bind-ro="$(readlink -f "$BERTH")":/usr/local/bin/berth --bind="$HOMEDIR":/root/.berth ||
  fail "booting the container"
[ "$(inside cat /proc/1/comm)" = systemd ] || fail "PID 1 in the container is not systemd"
say "booted a container with systemd as PID 1 in $((SECONDS - t))s"

# ---- system units ----
P=svc-ci
SOCK=$HOMEDIR/$P/docker.sock
inside berth start --vm-type ns --lazy -p $P >/dev/null || fail "berth start -p $P"
inside berth stop -p $P >/dev/null || fail "berth stop"
inside berth service install -p $P || fail "berth service install"
inside systemctl is-active --quiet berth@$P.socket || fail "berth@$P.socket is not active"
inside systemctl is-active --quiet berth@$P.service && fail "the service runs before any request"
[ -S "$SOCK" ] || fail "systemd does not listen on $SOCK"
t=$SECONDS
version=$(docker -H "unix://$SOCK" version --format '{{.Server.Version}}') || fail "docker version"
say "docker version through berth@$P.socket: engine $version, first request answered in $((SECONDS - t))s"
inside systemctl is-active --quiet berth@$P.service || fail "berth@$P.service was not started by activation"
inside systemctl show -p TriggeredBy --value berth@$P.service | grep -qw "berth@$P.socket" ||
  fail "berth@$P.service does not say it was triggered by berth@$P.socket"
inside systemctl status --no-pager -n0 berth@$P.service | sed -n '1,4p' | sed 's/^/systemd-service:   /'
inside berth status -p $P --json | grep -q '"socketActivated":true' || fail "status does not say socketActivated"
bash tests/harness/dockerd-ns.sh import-bb "$SOCK" "$RUN/scratch" >/dev/null || fail "importing busybox"
out=$(docker -H "unix://$SOCK" run --rm bb echo hello-from-systemd) || fail "docker run"
[ "$out" = hello-from-systemd ] || fail "docker run printed '$out'"
say "docker run through the activated daemon: ok"
inside berth service remove -p $P || fail "berth service remove"
inside systemctl is-active --quiet berth@$P.service && fail "the service still runs after remove"
inside systemctl is-active --quiet berth@$P.socket && fail "the socket unit still listens after remove"
inside pgrep -f "berth daemon --profile $P" >/dev/null && fail "the daemon process is left"
[ -e "$SOCK" ] && fail "$SOCK is left after remove"
inside test -e /etc/systemd/system/berth@.socket && fail "berth service remove left its unit files"
inside berth delete -f --data -p $P || fail "berth delete"
say "system units: install, activation, remove: ok"

# ---- user units (root's user manager) ----
P=svc-user
SOCK=$HOMEDIR/$P/docker.sock
inside systemctl start user@0.service || fail "starting root's user manager"
inside berth start --vm-type ns --lazy -p $P >/dev/null || fail "berth start -p $P"
inside berth stop -p $P >/dev/null || fail "berth stop -p $P"
user berth service install --user -p $P || fail "berth service install --user"
inside test -s /root/.config/systemd/user/berth@.socket || fail "no user unit written"
user systemctl --user is-active --quiet berth@$P.socket || fail "the user socket unit is not active"
user systemctl --user is-active --quiet berth@$P.service && fail "the user service runs before any request"
version=$(docker -H "unix://$SOCK" version --format '{{.Server.Version}}') || fail "docker version (user units)"
user systemctl --user is-active --quiet berth@$P.service || fail "the user service was not started by activation"
user berth service remove --user -p $P || fail "berth service remove --user"
user systemctl --user is-active --quiet berth@$P.service && fail "the user service still runs after remove"
inside pgrep -f "berth daemon --profile $P" >/dev/null && fail "the daemon process is left (user units)"
[ -e "$SOCK" ] && fail "$SOCK is left after remove (user units)"
inside berth delete -f --data -p $P || fail "berth delete -p $P"
say "user units: install, activation (engine $version), remove: ok"

$SR stop "$RUN" || fail "stopping the container"
say "passed in $((SECONDS - start))s"
