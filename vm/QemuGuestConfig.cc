#include "vm/QemuGuestConfig.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "server/net/Files.h"
#include "vm/QemuCommandLine.h"

namespace berth::vm {
namespace {

// Runs in the guest as root (dash). Subcommands: boot (from berth-provision at every full
// boot), dockerd (dockerd's ExecStart; refused where the runtime file says the profile runs
// containerd), phase NAME (boot markers on the serial console, which
// the host reads for its per-phase timings), suspend / resume EPOCH (over ssh around savevm:
// mounted 9p shares block savevm, and a resumed guest's clock is as old as its snapshot).
const char* const kProvisionScript = R"SH(#!/bin/sh
set -u
C=/etc/berth
phase() { echo "BERTH-PHASE $1 $(cut -d' ' -f1 /proc/uptime)" >/dev/ttyS0 2>/dev/null || true; }

mount_shares() {
  rc=0
  [ -f $C/mounts ] || return 0
  while read -r type tag mode point; do
    [ -n "$point" ] || continue
    mountpoint -q "$point" && continue
    mkdir -p "$point"
    if [ "$type" = virtiofs ]; then
      opts=""
      [ "$mode" = ro ] && opts="-o ro"
      mount -t virtiofs $opts "$tag" "$point" || rc=1
    else
      opts=trans=virtio,version=9p2000.L,msize=262144
      [ "$mode" = ro ] && opts=$opts,ro
      mount -t 9p -o $opts "$tag" "$point" || rc=1
    fi
  done <$C/mounts
  return $rc
}

umount_shares() {
  rc=0
  [ -f $C/mounts ] || return 0
  while read -r type tag mode point; do
    [ -n "$point" ] || continue
    mountpoint -q "$point" || continue
    umount "$point" || rc=1
  done <$C/mounts
  return $rc
}

case "${1:-}" in
boot)
  phase provisioning
  install -d -m700 /root/.ssh /etc/ssh
  install -m600 $C/authorized_keys /root/.ssh/authorized_keys
  # sshd reads the key outside /root first: a share mounted over /root (the host's home, when
  # berth runs as root) hides /root/.ssh, and berth ssh with it.
  install -m600 $C/authorized_keys /etc/ssh/berth_authorized_keys
  echo 'AuthorizedKeysFile /etc/ssh/berth_authorized_keys .ssh/authorized_keys' \
    >/etc/ssh/sshd_config.d/berth-keys.conf
  install -m600 $C/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
  install -m644 $C/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key.pub
  chmod 600 $C/tls/server-key.pem
  if [ -f $C/daemon.json ]; then
    install -D -m644 $C/daemon.json /etc/docker/daemon.json
  else
    rm -f /etc/docker/daemon.json
  fi
  if [ -s $C/dns ]; then sed 's/^/nameserver /' $C/dns >/etc/resolv.conf; else echo 'nameserver 10.0.2.3' >/etc/resolv.conf; fi
  if [ -f $C/env ]; then cp $C/env /etc/environment; else : >/etc/environment; fi
  # containerd's config, for both runtimes (dockerd uses this containerd): in place before
  # containerd's unit starts, which is ordered after this one.
  if [ -f $C/containerd.toml ]; then
    install -D -m644 $C/containerd.toml /etc/containerd/config.toml
  fi
  if [ "$(cat $C/runtime 2>/dev/null)" = containerd ]; then
    # containerd's own unit (Restart=always) runs the engine; dockerd's start, queued for this
    # boot, is replaced by a stop.
    systemctl --no-block stop docker.service docker.socket
  fi
  # The root file system grows to the overlay's size (berth start --disk).
  resize2fs /dev/vda >/dev/null 2>&1 &
  mount_shares || echo "berth: a share could not be mounted" >&2
  phase provisioned
  ;;
dockerd)
  if [ "$(cat $C/runtime 2>/dev/null)" = containerd ]; then
    echo "berth: this profile runs containerd, not dockerd" >&2
    exit 1
  fi
  if [ -f $C/env ]; then
    while IFS= read -r line; do
      case "$line" in *=*) export "$line" ;; esac
    done <$C/env
  fi
  exec /usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2376 --tlsverify \
    --tlscacert=$C/tls/ca.pem --tlscert=$C/tls/server-cert.pem --tlskey=$C/tls/server-key.pem \
    --containerd=/run/containerd/containerd.sock
  ;;
phase)
  phase "$2"
  ;;
suspend)
  sync
  umount_shares || { mount_shares; echo "berth: a share is busy, cannot save the VM state" >&2; exit 1; }
  ;;
resume)
  date -s "@$2" >/dev/null
  mount_shares || { echo "berth: a share could not be mounted" >&2; exit 1; }
  phase resumed
  ;;
*)
  echo "usage: provision.sh boot|dockerd|phase NAME|suspend|resume EPOCH" >&2
  exit 2
  ;;
esac
)SH";

void writeFile(const std::filesystem::path& path, const std::string& content, mode_t mode) {
  std::filesystem::create_directories(path.parent_path());
  try {
    net::Files::writeAtomic(path.string(), content, mode);
  } catch (const std::runtime_error& e) {
    throw DriverError(e.what());
  }
}

}  // namespace

const std::string& QemuGuestConfig::provisionScript() {
  static const std::string kScript = kProvisionScript;
  return kScript;
}

void QemuGuestConfig::write(const std::string& dir, const GuestConfigInput& input) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw DriverError("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  const fs::path d(dir);
  writeFile(d / "provision.sh", provisionScript(), 0755);
  writeFile(d / "authorized_keys", input.authorized_key, 0600);
  writeFile(d / "ssh_host_ed25519_key", input.host_private_key, 0600);
  writeFile(d / "ssh_host_ed25519_key.pub", input.host_public_key, 0644);
  writeFile(d / "tls" / "ca.pem", input.tls_ca, 0644);
  writeFile(d / "tls" / "server-cert.pem", input.tls_server_cert, 0644);
  writeFile(d / "tls" / "server-key.pem", input.tls_server_key, 0600);
  if (!input.docker.is_null() && !input.docker.empty())
    writeFile(d / "daemon.json", input.docker.dump(2) + "\n", 0644);
  std::string dns;
  for (const auto& ip : input.dns) dns += ip + "\n";
  if (!dns.empty()) writeFile(d / "dns", dns, 0644);
  std::string env;
  for (const auto& [key, value] : input.env) env += key + "=" + value + "\n";
  if (!env.empty()) writeFile(d / "env", env, 0644);
  // One line per share: type tag mode mountpoint (the mount point last: it may hold spaces).
  std::string mounts;
  for (std::size_t i = 0; i < input.shares.size(); ++i) {
    const auto& share = input.shares[i];
    mounts += input.mount_type + " " + QemuCommandLine::shareTag(i) + " " +
              (share.writable ? "rw" : "ro") + " " + share.mount_point + "\n";
  }
  writeFile(d / "mounts", mounts, 0644);
  writeFile(d / "runtime", input.runtime + "\n", 0644);
  if (!input.containerd_config.empty())
    writeFile(d / "containerd.toml", input.containerd_config, 0644);
}

}  // namespace berth::vm
