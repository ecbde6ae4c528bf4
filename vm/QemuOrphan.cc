#include "vm/QemuOrphan.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "api/Numbers.h"
#include "server/net/Files.h"

namespace berth::vm {

std::string QemuOrphan::pidFile(const std::string& state_dir) { return state_dir + "/qemu.pid"; }

std::optional<net::ChildProcess> QemuOrphan::find(const std::string& state_dir,
                                                  const std::string& program) {
  const std::string pid_file = pidFile(state_dir);
  auto qemu = net::ChildProcess::adopt(pid_file, program);
  if (!qemu || !namesPidFile(commandLine(qemu->pid()), pid_file)) return std::nullopt;
  // adopt() holds a pidfd: while it still runs, the command line just read was its own (a pid
  // reused in between would mean that this process had ended).
  if (!qemu->running()) return std::nullopt;
  return qemu;
}

std::vector<std::string> QemuOrphan::commandLine(int pid) {
  const std::string raw = net::Files::readOr("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> argv;
  std::string::size_type start = 0;
  while (start < raw.size()) {
    auto end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    argv.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

bool QemuOrphan::namesPidFile(const std::vector<std::string>& argv, const std::string& pid_file) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if ((argv[i] == "-pidfile" || argv[i] == "--pidfile") && argv[i + 1] == pid_file) return true;
  }
  return false;
}

// Rows look like (libslirp's slirp_connection_info):
//   TCP[HOST_FORWARD]  14       127.0.0.1 21998       10.0.2.15    80     0     0
// with "*" as the host address of a forward bound to every address.
std::vector<QemuOrphan::HostForward> QemuOrphan::hostForwards(const std::string& info_usernet) {
  std::vector<HostForward> forwards;
  std::istringstream lines(info_usernet);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string kind, fd, host_ip, host_port, guest_ip, guest_port;
    if (!(fields >> kind >> fd >> host_ip >> host_port >> guest_ip >> guest_port)) continue;
    const auto bracket = kind.find("[HOST_FORWARD]");
    if (bracket == std::string::npos) continue;
    HostForward forward;
    forward.protocol = kind.substr(0, bracket);
    std::transform(forward.protocol.begin(), forward.protocol.end(), forward.protocol.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (forward.protocol != "tcp" && forward.protocol != "udp") continue;
    forward.host_ip = host_ip == "*" ? "" : host_ip;
    const auto host = api::parsePort(host_port);
    const auto guest = api::parseWhole<std::uint16_t>(guest_port);  // 0 is a valid guest side
    if (!host || !guest) continue;
    forward.host_port = *host;
    forward.guest_port = *guest;
    forwards.push_back(std::move(forward));
  }
  return forwards;
}

std::string QemuOrphan::removeCommand(const std::string& netdev, const HostForward& forward) {
  return "hostfwd_remove " + netdev + " " + forward.protocol + ":" + forward.host_ip + ":" +
         std::to_string(forward.host_port);
}

}  // namespace berth::vm
