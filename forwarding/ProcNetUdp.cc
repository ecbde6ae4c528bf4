#include "forwarding/ProcNetUdp.h"

#include <algorithm>

#include "api/Numbers.h"
#include "server/net/Files.h"

namespace berth::fwd {

bool ProcNetUdp::bound(std::string_view table, std::uint16_t port) {
  // "  sl  local_address rem_address   st ...": local_address is ADDRESS:PORT in hex.
  while (!table.empty()) {
    const auto end = table.find('\n');
    std::string_view row = table.substr(0, end);
    table = end == std::string_view::npos ? std::string_view{} : table.substr(end + 1);
    const auto sl = row.find_first_not_of(' ');
    const auto gap = row.find(' ', sl);
    const auto local = row.find_first_not_of(' ', gap);
    if (local == std::string_view::npos) continue;
    const auto local_end = std::min(row.find(' ', local), row.size());
    const std::string_view address = row.substr(local, local_end - local);
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos) continue;  // the header row
    if (api::parseWhole<unsigned>(address.substr(colon + 1), 16) == port) return true;
  }
  return false;
}

std::optional<bool> ProcNetUdp::boundIn(int pid, std::uint16_t port) {
  const std::string net = "/proc/" + std::to_string(pid) + "/net/";
  const auto v4 = net::Files::read(net + "udp");
  const auto v6 = net::Files::read(net + "udp6");
  if (!v4 && !v6) return std::nullopt;
  return (v4 && bound(*v4, port)) || (v6 && bound(*v6, port));
}

}  // namespace berth::fwd
