#pragma once
// QemuCommandLine: turns what one boot of a profile's VM needs (machine size, accelerator,
// disk, kernel, shares, forwarded ports, control sockets) into QEMU's argv. Pure code, no I/O,
// so the exact command line is unit-tested. Thread-safe (no state).
#include <cstdint>
#include <string>
#include <vector>

#include "vm/Driver.h"

namespace berth::vm {

struct QemuLaunchSpec {
  std::string qemu_binary = "qemu-system-x86_64";
  std::string arch = "x86_64";  // x86_64 | aarch64
  std::string accel = "tcg";    // kvm | hvf | tcg
  int cpus = 2;
  int memory_mib = 2048;
  std::string kernel, initrd, disk;
  std::string config_dir;  // host folder shared read-only as the guest's config (tag berth-config)
  std::vector<Share> shares;                  // 9p shares, tags share0, share1, ... in order
  std::vector<std::string> virtiofs_sockets;  // when set (one per share): virtiofs instead of 9p
  // Host loopback ends of guest 22 and 2376; engine_port 0: no forward to 2376 (containerd).
  std::uint16_t ssh_port = 0, engine_port = 0;
  std::string qmp_socket, pid_file, serial_log;
  std::string loadvm_tag;  // resume from this internal snapshot instead of booting
};

class QemuCommandLine {
 public:
  static constexpr std::uint16_t kGuestEnginePort = 2376;
  static constexpr const char* kConfigTag = "berth-config";
  // The guest's address on QEMU's user network (its first DHCP lease): where hostfwd delivers.
  static constexpr const char* kGuestAddress = "10.0.2.15";

  static std::vector<std::string> build(const QemuLaunchSpec& spec);
  // Tag under which share number `index` is exported ("share0", ...).
  static std::string shareTag(std::size_t index);
  // QEMU's option syntax treats ',' as a separator; a literal comma is written twice.
  static std::string escapeOptionValue(const std::string& value);
  // The argv with everything that does not change the saved machine state removed
  // (ports, sockets, -loadvm): two boots whose keys match can resume each other's snapshot.
  static std::string machineKey(const QemuLaunchSpec& spec);
};

}  // namespace berth::vm
