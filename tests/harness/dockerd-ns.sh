#!/usr/bin/env bash
# The shared integration-test engine: a real dockerd (Debian docker.io) in a fresh network
# namespace, everything it writes kept under one temp dir, and a busybox image tagged `bb`.
#
#   dockerd-ns.sh start NAME DIR   starts it; prints KEY=VALUE lines (also written to DIR/env):
#                                  DOCKER_SOCK, GUEST_ADDR (the namespace's veth address, not
#                                  loopback), HOST_ADDR (the host end), NETNS, VETH, DOCKERD_PID
#   dockerd-ns.sh import-bb SOCK DIR  imports the busybox image `bb` into the engine at SOCK
#                                  (any engine: e.g. a berth profile's), using DIR as scratch
#   dockerd-ns.sh stop NAME [DIR]  stops dockerd, containerd, shims and containers, unmounts
#                                  everything under DIR, deletes the netns and the veth, and
#                                  removes DIR's engine state (data/, exec/).
#
# NAME: [a-z0-9-]{1,24}, unique per user (prefix it with your area, e.g. relay-int). A NAME
# left behind by a crashed run is cleaned up before start (its DIR is remembered in
# /run/berth-harness/NAME). dockerd is started with `nsenter --net=` rather than
# `ip netns exec`, which remounts /sys and loses the cgroup mounts dockerd needs.
# Env: BERTH_NS_SUBNET=10.X.Y to choose the /24 (default: derived from NAME, first free).
#      BERTH_NS_PORT_RANGE="LOW HIGH": the namespace's ip_local_port_range, which is where
#      dockerd picks engine-chosen published ports (-P) from.
set -euo pipefail

STATE_DIR=/run/berth-harness
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}

die() { echo "dockerd-ns: $*" >&2; exit 1; }

check_name() {
  [[ $1 =~ ^[a-z0-9][a-z0-9-]{0,23}$ ]] || die "bad NAME '$1': use [a-z0-9-], at most 24 chars"
}

# Interface names hold 15 bytes: derive short, stable ones from NAME.
name_hash() { printf '%s' "$1" | cksum | cut -d' ' -f1; }
veth_host() { printf 'bh%08x' "$(name_hash "$1")" | cut -c1-10; }
veth_guest() { printf 'bg%08x' "$(name_hash "$1")" | cut -c1-10; }

# Every pid whose cmdline mentions DIR (dockerd, containerd, shims: their -address is under
# DIR/exec), every pid in the netns, and all their descendants (the containers' processes).
harness_pids() {
  local name=$1 dir=$2
  local roots=()
  if [ -n "$dir" ] && [ -d "$dir" ]; then
    local p
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      [ "$p" = $$ ] && continue
      if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qE -- "$dir/(exec|data)(/| |$)"; then roots+=("$p"); fi
    done
  fi
  if [ -e "/var/run/netns/$name" ]; then
    mapfile -t -O "${#roots[@]}" roots < <(ip netns pids "$name" 2>/dev/null || true)
  fi
  [ ${#roots[@]} -gt 0 ] || return 0
  # Walk the process tree once: ppid -> children.
  ps -e -o pid=,ppid= | awk -v roots="${roots[*]}" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
    { kids[$2] = kids[$2] " " $1 }
    END {
      changed = 1
      while (changed) {
        changed = 0
        for (p in want) { m = split(kids[p], k, " "); for (j = 1; j <= m; j++) if (!(k[j] in want)) { want[k[j]] = 1; changed = 1 } }
      }
      for (p in want) print p
    }' | grep -vx "$$" || true
}

unmount_under() {
  local dir=$1
  [ -n "$dir" ] || return 0
  # Deepest first; lazy so a busy mount still leaves the tree.
  awk -v d="$dir/" 'index($5, d) == 1 { print length($5), $5 }' /proc/self/mountinfo |
    sort -rn | cut -d' ' -f2- | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}

do_stop() {
  local name=$1 dir=${2:-}
  check_name "$name"
  if [ -z "$dir" ] && [ -f "$STATE_DIR/$name" ]; then dir=$(cat "$STATE_DIR/$name"); fi
  dir=${dir%/}
  # Ask dockerd to stop (it stops its containers and containerd), then force what remains.
  local pid=""
  [ -n "$dir" ] && [ -f "$dir/dockerd.pid" ] && pid=$(cat "$dir/dockerd.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  # Remember every pid seen: a container's process outlives its shim (reparented), and as
  # its pid namespace's init it ignores SIGTERM, so it gets SIGKILL at the end.
  local seen="" pids
  for _ in $(seq 1 30); do
    pids=$(harness_pids "$name" "$dir")
    [ -z "$pids" ] && break
    seen="$seen $pids"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    sleep 0.1
  done
  # shellcheck disable=SC2086
  [ -z "$seen" ] || kill -KILL $seen $(harness_pids "$name" "$dir") 2>/dev/null || true
  unmount_under "$dir"
  ip netns del "$name" 2>/dev/null || true
  ip link del "$(veth_host "$name")" 2>/dev/null || true
  if [ -n "$dir" ] && [ -d "$dir" ]; then
    rm -rf "$dir/data" "$dir/exec" "$dir/rootfs" "$dir/docker.sock" "$dir/dockerd.pid" "$dir/env"
  fi
  rm -f "$STATE_DIR/$name"
}

pick_subnet() {
  local name=$1
  if [ -n "${BERTH_NS_SUBNET:-}" ]; then echo "$BERTH_NS_SUBNET"; return; fi
  local h x y i
  h=$(name_hash "$name")
  x=$((200 + h % 50))
  y=$(((h / 50) % 256))
  for i in $(seq 0 255); do
    local cand="10.$x.$(((y + i) % 256))"
    if ! ip -4 addr show | grep -q " $cand\."; then echo "$cand"; return; fi
  done
  die "no free 10.$x.0.0/16 subnet"
}

make_rootfs_tar() {
  local dir=$1
  local root=$dir/rootfs
  rm -rf "$root"
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root" "$root/proc" "$root/sys" "$root/dev"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  "$root/bin/busybox" --install -s "$root/bin"
  # Applets link to the host path of the binary they ran from: point them at /bin/busybox.
  local l
  for l in "$root"/bin/*; do
    [ -L "$l" ] && ln -sf /bin/busybox "$l"
  done
  mkdir -p "$root/usr"
  ln -s ../bin "$root/usr/bin"
  ln -s bin "$root/sbin"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" -cf "$dir/rootfs.tar" .
  rm -rf "$root"
}

do_start() {
  local name=$1 dir=$2
  check_name "$name"
  [ -n "$dir" ] || die "start needs DIR"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local sock=$dir/docker.sock
  [ ${#sock} -le 100 ] || die "DIR too long for a unix socket path: $dir"
  [ -x "$DOCKERD" ] || die "$DOCKERD not found (apt-get install docker.io)"

  # A crashed run may have left this NAME behind (netns, veth, processes, mounts).
  if [ -e "/var/run/netns/$name" ] || [ -f "$STATE_DIR/$name" ] || ip link show "$(veth_host "$name")" >/dev/null 2>&1; then
    echo "dockerd-ns: cleaning up a stale '$name' from an earlier run" >&2
    do_stop "$name" "$(cat "$STATE_DIR/$name" 2>/dev/null || true)"
  fi
  mkdir -p "$STATE_DIR"
  echo "$dir" >"$STATE_DIR/$name"

  local subnet vh vg
  subnet=$(pick_subnet "$name")
  vh=$(veth_host "$name")
  vg=$(veth_guest "$name")
  ip netns add "$name"
  ip link add "$vh" type veth peer name "$vg"
  ip link set "$vg" netns "$name"
  ip addr add "$subnet.1/24" dev "$vh"
  ip link set "$vh" up
  ip -n "$name" link set lo up
  ip -n "$name" addr add "$subnet.2/24" dev "$vg"
  ip -n "$name" link set "$vg" up
  ip -n "$name" route add default via "$subnet.1"
  if [ -n "${BERTH_NS_PORT_RANGE:-}" ]; then
    nsenter --net="/var/run/netns/$name" sysctl -qw net.ipv4.ip_local_port_range="$BERTH_NS_PORT_RANGE"
  fi

  mkdir -p "$dir/data" "$dir/exec"
  echo '{}' >"$dir/daemon.json"
  nsenter --net="/var/run/netns/$name" "$DOCKERD" \
    --config-file "$dir/daemon.json" \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
    -H "unix://$sock" --userland-proxy=false --shutdown-timeout 2 \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  local pid=$!
  disown "$pid" 2>/dev/null || true

  make_rootfs_tar "$dir" &
  local tar_pid=$!

  local ok=0
  for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if [ -S "$sock" ] && curl -sf --max-time 2 --unix-socket "$sock" http://engine/_ping >/dev/null 2>&1; then
      ok=1
      break
    fi
    sleep 0.1
  done
  wait "$tar_pid" || { do_stop "$name" "$dir"; die "could not build the busybox rootfs"; }
  if [ $ok != 1 ]; then
    tail -20 "$dir/dockerd.log" >&2 || true
    do_stop "$name" "$dir"
    die "dockerd did not answer on $sock within 60s (log: $dir/dockerd.log)"
  fi
  if ! DOCKER_HOST="unix://$sock" "$DOCKER_CLI" import "$dir/rootfs.tar" bb >/dev/null; then
    do_stop "$name" "$dir"
    die "docker import of the busybox image failed"
  fi
  rm -f "$dir/rootfs.tar"
  cat >"$dir/env" <<EOF
DOCKER_SOCK=$sock
GUEST_ADDR=$subnet.2
HOST_ADDR=$subnet.1
NETNS=$name
VETH=$vh
DOCKERD_PID=$pid
EOF
  cat "$dir/env"
}

do_import_bb() {
  local sock=$1 dir=$2
  mkdir -p "$dir"
  make_rootfs_tar "$dir"
  DOCKER_HOST="unix://$sock" "$DOCKER_CLI" import "$dir/rootfs.tar" bb >/dev/null ||
    { rm -f "$dir/rootfs.tar"; die "docker import of the busybox image into $sock failed"; }
  rm -f "$dir/rootfs.tar"
}

case "${1:-}" in
  import-bb) [ $# -eq 3 ] || die "usage: $0 import-bb SOCK DIR"; do_import_bb "$2" "$3" ;;
  start) [ $# -eq 3 ] || die "usage: $0 start NAME DIR"; do_start "$2" "$3" ;;
  stop) [ $# -ge 2 ] || die "usage: $0 stop NAME [DIR]"; do_stop "$2" "${3:-}" ;;
  *) die "usage: $0 start NAME DIR | stop NAME [DIR] | import-bb SOCK DIR" ;;
esac
