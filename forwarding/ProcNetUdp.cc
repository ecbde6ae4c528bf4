#include "forwarding/ProcNetUdp.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "api/Numbers.h"
#include "server/net/Files.h"

namespace berth::fwd {
namespace {

// The kernel prints an address as 32-bit words, each in the host's byte order ("%08X" of the
// word as it lies in memory): copying the words back into memory gives the address's bytes.
bool isLoopback(std::string_view hex) {
  if (hex.size() != 8 && hex.size() != 32) return false;
  std::array<unsigned char, 16> bytes{};
  for (std::size_t word = 0; word * 8 < hex.size(); ++word) {
    const auto value = api::parseWhole<std::uint32_t>(hex.substr(word * 8, 8), 16);
    if (!value) return false;
    std::memcpy(bytes.data() + word * 4, &*value, 4);
  }
  if (hex.size() == 8) return bytes[0] == 127;
  static constexpr std::array<unsigned char, 16> kLoopback6{0, 0, 0, 0, 0, 0, 0, 0,
                                                            0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr std::array<unsigned char, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return bytes == kLoopback6 ||
         (std::equal(kMapped.begin(), kMapped.end(), bytes.begin()) && bytes[12] == 127);
}

}  // namespace

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
    if (api::parseWhole<unsigned>(address.substr(colon + 1), 16) == port &&
        !isLoopback(address.substr(0, colon)))
      return true;
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
