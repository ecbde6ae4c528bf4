#!/usr/bin/env bash
# A machine with systemd as its PID 1, for tests of berth's systemd units where the test machine
# itself has none (CI containers, these sandboxes): a Debian bookworm root made once with
# debootstrap and cached, booted with systemd-nspawn on a throwaway overlay of it.
#
#   systemd-root.sh ensure           builds the cached root if it is missing or its recipe
#                                    changed; prints its folder
#   systemd-root.sh boot RUN [ARGS]  boots a container on RUN/merged (an overlay of the cached
#                                    root, its changes in RUN/upper); ARGS go to systemd-nspawn
#                                    (--bind=...); waits until systemd says it is up
#   systemd-root.sh run RUN CMD...   runs CMD inside the booted container (all its namespaces)
#   systemd-root.sh stop RUN         powers the container off and removes RUN's overlay
#
# The root holds systemd, dbus, Debian's docker.io (dockerd, containerd, runc: the ns driver's
# engine) and berth's shared libraries; the distribution's docker/containerd units are masked.
# The container gets its own network namespace (so /proc/sys/net is writable and nothing it
# sets up touches the host's network), all capabilities, and its cgroup v1 controllers remounted
# writable (runc creates cgroups there; nspawn mounts them read-only).
# Env: BERTH_SYSTEMD_ROOT (default /var/cache/berth-ci/systemd-root), BERTH_DEBIAN_MIRROR.
# Needs root, debootstrap and systemd-nspawn (package systemd-container).
set -euo pipefail

ROOT=${BERTH_SYSTEMD_ROOT:-/var/cache/berth-ci/systemd-root}
PACKAGES=systemd,systemd-sysv,dbus,libpam-systemd,docker.io,containerd,runc,iptables,nftables,iproute2,libyaml-cpp0.7,libssl3,curl,procps,ca-certificates
MASKED="docker.service docker.socket containerd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer console-getty.service"
RECIPE="bookworm minbase $PACKAGES masked: $MASKED"

die() { echo "systemd-root: $*" >&2; exit 1; }

ensure() {
  if [ -f "$ROOT/.berth-recipe" ] && [ "$(cat "$ROOT/.berth-recipe")" = "$RECIPE" ]; then
    echo "$ROOT"
    return
  fi
  command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"
  local mirror=${BERTH_DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
  fi
  local tmp=$ROOT.new.$$ debs
  debs=$(dirname "$ROOT")/debs
  mkdir -p "$debs"
  rm -rf "$tmp"
  echo "systemd-root: debootstrap bookworm into $tmp (once; ~4 min, ~580 MB)" >&2
  if ! debootstrap --variant=minbase --cache-dir="$debs" --include="$PACKAGES" bookworm "$tmp" \
    "$mirror" >"$tmp.log" 2>&1; then
    tail -15 "$tmp.log" >&2
    rm -rf "$tmp"
    die "debootstrap failed (above)"
  fi
  # shellcheck disable=SC2086
  systemctl --root="$tmp" mask $MASKED >/dev/null 2>&1
  rm -f "$tmp.log" "$tmp"/var/cache/apt/archives/*.deb
  echo "$RECIPE" >"$tmp/.berth-recipe"
  rm -rf "$ROOT"
  mv "$tmp" "$ROOT"
  echo "$ROOT"
}

leader() {  # the container's PID 1, as the host sees it
  local nspawn
  nspawn=$(cat "$1/nspawn.pid" 2>/dev/null) || return 1
  pgrep -P "$nspawn" | head -1
}

boot() {
  local run=$1
  shift
  command -v systemd-nspawn >/dev/null || die "systemd-nspawn missing (apt-get install systemd-container)"
  [ -f "$ROOT/.berth-recipe" ] || die "no cached root: run systemd-root.sh ensure first"
  mkdir -p "$run/upper" "$run/work" "$run/merged"
  mount -t overlay overlay -o "lowerdir=$ROOT,upperdir=$run/upper,workdir=$run/work" "$run/merged"
  # --register=no --keep-unit: no machined or system bus on a host without systemd.
  setsid systemd-nspawn -q -D "$run/merged" -b --register=no --keep-unit --private-network \
    --capability=all --system-call-filter='@keyring bpf' "--machine=berth-$(basename "$run")" \
    "$@" </dev/null >"$run/console.log" 2>&1 &
  echo $! >"$run/nspawn.pid"
  local pid1="" i
  for i in $(seq 100); do
    pid1=$(leader "$run" || true)
    [ -n "$pid1" ] && nsenter -t "$pid1" -a test -S /run/systemd/private 2>/dev/null && break
    kill -0 "$(cat "$run/nspawn.pid")" 2>/dev/null || { tail -20 "$run/console.log" >&2; die "systemd-nspawn exited"; }
    sleep 0.2
  done
  local state
  state=$(timeout 60 nsenter -t "$pid1" -a systemctl is-system-running --wait || true)
  case $state in
    running|degraded) ;;
    *) tail -20 "$run/console.log" >&2; die "the container's systemd is '$state'" ;;
  esac
  nsenter -t "$pid1" -a sh -c 'for d in /sys/fs/cgroup/*/; do
    [ "$d" = /sys/fs/cgroup/systemd/ ] || mount -o remount,bind,rw "$d"; done'
}

run_in() {
  local run=$1 pid1
  shift
  pid1=$(leader "$run") || die "no container booted on $run"
  nsenter -t "$pid1" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root TERM=dumb "$@"
}

stop() {
  local run=$1 nspawn
  nspawn=$(cat "$run/nspawn.pid" 2>/dev/null || true)
  if [ -n "$nspawn" ] && kill -0 "$nspawn" 2>/dev/null; then
    kill "$nspawn"  # nspawn asks the container's systemd to power off
    for _ in $(seq 100); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$nspawn" 2>/dev/null && kill -9 "$nspawn"
  fi
  mountpoint -q "$run/merged" && umount "$run/merged"
  rm -rf "$run/upper" "$run/work" "$run/merged" "$run/nspawn.pid"
}

[ "$(id -u)" = 0 ] || die "needs root"
case ${1:-} in
  ensure) ensure ;;
  boot) [ $# -ge 2 ] || die "usage: boot RUN [NSPAWN-ARGS]"; shift; boot "$@" ;;
  run) [ $# -ge 3 ] || die "usage: run RUN CMD..."; shift; run_in "$@" ;;
  stop) [ $# -eq 2 ] || die "usage: stop RUN"; stop "$2" ;;
  *) sed -n '2,19p' "$0"; exit 2 ;;
esac
