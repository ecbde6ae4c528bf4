#!/usr/bin/env bash
# Builds berth's qemu guest: Debian bookworm (debootstrap minbase) with the kernel, systemd,
# dockerd + containerd, openssh-server and the provisioning unit that reads the per-profile
# config share at boot (see contrib/guest/README.md). Produces, in a cache dir keyed by a hash
# of this recipe (the script and the files it installs):
#   <cache>/<key>/disk.qcow2  vmlinuz  initrd.img  recipe.sha256
# and prints that directory as its last stdout line. An unchanged recipe reuses the cached
# image (no rebuild); a changed one builds a new directory.
#
# Usage: build-image.sh [--cache-dir DIR] [--mirror URL] [--force] [--print-dir]
#   --print-dir  print the directory the current recipe maps to and exit 0 if it is built,
#                1 if not (builds nothing).
# Env: BERTH_IMAGE_CACHE (default $XDG_CACHE_HOME/berth/images, else ~/.cache/berth/images).
# Needs root (debootstrap, chroot) and Debian's mirror; installs debootstrap, qemu-utils and
# e2fsprogs with apt-get when they are missing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${BERTH_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/images}
MIRROR=""
FORCE=0
PRINT_DIR=0
while [ $# -gt 0 ]; do
  case $1 in
    --cache-dir) CACHE=$2; shift 2 ;;
    --mirror) MIRROR=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    --print-dir) PRINT_DIR=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

SUITE=bookworm
PACKAGES=linux-image-amd64,systemd-sysv,udev,dbus,kmod,apparmor,docker.io,containerd,runc,tini,iptables,containernetworking-plugins,openssh-server,iproute2,ca-certificates,e2fsprogs,procps
DISK_GB=8

# The recipe is this script plus the guest files it installs: hash them all.
KEY=$(cat "$0" "$HERE"/files/* | sha256sum | cut -c1-16)
OUT=$CACHE/$KEY
if [ "$PRINT_DIR" = 1 ]; then
  echo "$OUT"
  [ -f "$OUT/recipe.sha256" ]
  exit
fi
if [ "$FORCE" = 0 ] && [ -f "$OUT/recipe.sha256" ]; then
  echo "build-image: cached image is valid (recipe $KEY), nothing to build" >&2
  echo "$OUT"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-image: needs root (debootstrap and chroot)" >&2; exit 1; }
# The tools it runs, installed from the distribution when missing (as contrib/quickstart.sh does).
missing=()
for pair in debootstrap:debootstrap qemu-img:qemu-utils mkfs.ext4:e2fsprogs; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null ||
    { echo "build-image: ${missing[*]} missing, and there is no apt-get to install them" >&2; exit 1; }
  echo "build-image: installing ${missing[*]} (apt-get)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 ||
    { echo "build-image: apt-get install ${missing[*]} failed (output above)" >&2; exit 1; }
fi
if [ -z "$MIRROR" ]; then
  MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/.build-$KEY.XXXX")
ROOT=$WORK/rootfs
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
T0=$SECONDS
step() { echo "build-image: [$((SECONDS - T0))s] $*" >&2; }

# 1. debootstrap. Debs are kept in a cache beside the images so a rebuild downloads nothing.
step "debootstrap $SUITE from $MIRROR (about 170 packages, ~180 MB; several minutes)"
mkdir -p "$CACHE/debs"
debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$PACKAGES" \
  "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 &
DB_PID=$!
while kill -0 $DB_PID 2>/dev/null; do
  sleep 15
  last=$(grep -E '^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing)' "$WORK/debootstrap.log" | tail -1 || true)
  [ -n "$last" ] && step "  ${last#I: }"
done
if ! wait $DB_PID; then
  tail -20 "$WORK/debootstrap.log" >&2
  echo "build-image: debootstrap failed (log above)" >&2
  exit 1
fi

# 2. configure the guest.
step "configuring the guest"
echo berth >"$ROOT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 berth\n' >"$ROOT/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$ROOT/etc/fstab"
printf '9p\n9pnet_virtio\n' >"$ROOT/etc/modules-load.d/berth-9p.conf"
# Static address on QEMU's user network: no DHCP wait at boot.
mkdir -p "$ROOT/etc/systemd/network"
printf '[Match]\nName=en* eth*\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\nDNS=10.0.2.3\n' \
  >"$ROOT/etc/systemd/network/10-berth.network"
echo 'nameserver 10.0.2.3' >"$ROOT/etc/resolv.conf"
install -m755 "$HERE/files/berth-provision" "$ROOT/usr/local/sbin/berth-provision"
install -m644 "$HERE/files/berth-provision.service" "$ROOT/etc/systemd/system/berth-provision.service"
install -m644 "$HERE/files/berth-phase@.service" "$ROOT/etc/systemd/system/berth-phase@.service"
mkdir -p "$ROOT/etc/systemd/system/docker.service.d" "$ROOT/etc/systemd/system/ssh.service.d"
install -m644 "$HERE/files/docker-berth.conf" "$ROOT/etc/systemd/system/docker.service.d/berth.conf"
install -m644 "$HERE/files/ssh-berth.conf" "$ROOT/etc/systemd/system/ssh.service.d/berth.conf"
# sshd: keys only, the host key comes from the profile (installed by berth-provision).
rm -f "$ROOT"/etc/ssh/ssh_host_*
printf 'UseDNS no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\nHostKey /etc/ssh/ssh_host_ed25519_key\n' \
  >"$ROOT/etc/ssh/sshd_config.d/berth.conf"
mkdir -p -m700 "$ROOT/root/.ssh"
chroot "$ROOT" passwd -l root >/dev/null
chroot "$ROOT" systemctl enable -q systemd-networkd.service berth-provision.service \
  berth-phase@docker.service
# Units that only slow a TCG boot or do work a throwaway VM does not need.
chroot "$ROOT" systemctl mask -q systemd-networkd-wait-online.service apt-daily.timer \
  apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer serial-getty@ttyS0.service \
  getty@tty1.service ssh.socket 2>/dev/null || true
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*

# 3. kernel + initrd beside the disk (QEMU boots them directly: no bootloader).
mkdir -p "$WORK/out"
cp "$ROOT"/boot/vmlinuz-* "$WORK/out/vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$WORK/out/initrd.img"

# 4. ext4 straight from the directory (no loop device, no mount), then qcow2.
step "making the ${DISK_GB} GiB ext4 disk and converting it to qcow2"
truncate -s ${DISK_GB}G "$WORK/disk.raw"
mkfs.ext4 -q -F -L berthroot -d "$ROOT" "$WORK/disk.raw"
qemu-img convert -f raw -O qcow2 "$WORK/disk.raw" "$WORK/out/disk.qcow2"
rm -f "$WORK/disk.raw"
echo "$KEY" >"$WORK/out/recipe.sha256"

rm -rf "$OUT"
mv "$WORK/out" "$OUT"
step "done: $OUT ($(du -sh "$OUT" | cut -f1))"
echo "$OUT"
