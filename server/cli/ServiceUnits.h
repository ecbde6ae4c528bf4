#pragma once
// ServiceUnits: the systemd template units that run a profile's daemon on demand, the same for
// the system manager (root) and a user's (systemctl --user): berth@.socket owns the profile's
// docker.sock (%h/.berth/%i/docker.sock) and berth@.service runs `berth daemon --profile %i` on
// the socket it is handed (LISTEN_FDS), booting the guest at the first request. Written once
// here: `berth service install` writes them where no package put them, and the .deb ships
// `berth service unit` output. Pure text; thread-safe.
#include <string>

namespace berth::cli {

class ServiceUnits {
 public:
  static std::string socketUnit();
  // ExecStart runs `berth_binary`.
  static std::string serviceUnit(const std::string& berth_binary);
};

}  // namespace berth::cli
