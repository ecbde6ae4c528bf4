#pragma once
// QemuOrphan: finds the QEMU that a killed daemon left running for a profile, from files and
// /proc only (no QMP), and reads a running QEMU's host forwards (HMP `info usernet`) so that the
// ones a dead daemon opened can be removed. A pid file is trusted only when it names a live
// process of the QEMU binary whose own command line names that very pid file: a recycled pid,
// or the QEMU of another profile, is never taken for this profile's guest.
// Stateless: every function is thread-safe; find() reads /proc (blocking, control plane only).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/net/ChildProcess.h"

namespace berth::vm {

class QemuOrphan {
 public:
  // A forward as QEMU's user network lists it.
  struct HostForward {
    std::string protocol;  // "tcp" | "udp"
    std::string host_ip;   // "" for every address
    std::uint16_t host_port = 0;
    std::uint16_t guest_port = 0;
  };

  // The pid file a QemuDriver's QEMU writes (-pidfile) in `state_dir`.
  static std::string pidFile(const std::string& state_dir);
  // The QEMU (`program`, e.g. "qemu-system-x86_64") that pidFile(state_dir) names, when it is
  // alive and was started with `-pidfile <that file>`; else nullopt.
  static std::optional<net::ChildProcess> find(const std::string& state_dir,
                                               const std::string& program);
  // A process's argv (/proc/PID/cmdline); empty when it cannot be read.
  static std::vector<std::string> commandLine(int pid);
  // True when `argv` holds "-pidfile <pid_file>" (QEMU also takes "--pidfile").
  static bool namesPidFile(const std::vector<std::string>& argv, const std::string& pid_file);
  // The host forwards (HOST_FORWARD rows) of `info usernet` output; connections are skipped.
  static std::vector<HostForward> hostForwards(const std::string& info_usernet);
  // The HMP command that removes `forward` from netdev `netdev`.
  static std::string removeCommand(const std::string& netdev, const HostForward& forward);
};

}  // namespace berth::vm
