#pragma once
// QemuBootRecord: what a QemuDriver notes beside a QEMU it launches (boot.json in the state
// dir), so that a later daemon can adopt that QEMU after the first one was killed: the host
// ports forwarded to the guest's ssh and engine, the accelerator, virtiofsd (when it shares
// with virtiofs), which settings shaped the machine and what a state saved from it is valid
// for. Plain data; load/save are blocking file I/O (control plane only).
#include <cstdint>
#include <optional>
#include <string>

namespace berth::vm {

class QemuBootRecord {
 public:
  std::string settings;   // QemuDriver's digest of the settings the machine was made from
  std::string state_key;  // what a VM state saved from this QEMU resumes for
  std::string accel;      // kvm | hvf | tcg
  std::string virtiofsd;  // its path when the shares are virtiofs, else ""
  std::uint16_t ssh_port = 0;
  std::uint16_t engine_port = 0;  // 0: none (a runtime without dockerd's TCP port: containerd)

  // Writes it atomically; throws std::runtime_error naming the file.
  void save(const std::string& path) const;
  // The record in `path`, or nullopt when it is missing or incomplete (no ssh port, no settings).
  static std::optional<QemuBootRecord> load(const std::string& path);
};

}  // namespace berth::vm
