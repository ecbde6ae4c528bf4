#include "forwarding/ProcNetTcp.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <optional>

#include "api/Numbers.h"

namespace berth::fwd {
namespace {

constexpr std::string_view kListen = "0A";

// The next field of `row` (split on spaces), or "" at its end.
std::string_view nextField(std::string_view& row) {
  const auto start = row.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    row = {};
    return {};
  }
  const auto end = row.find(' ', start);
  const auto field = row.substr(start, end == std::string_view::npos ? row.npos : end - start);
  row = end == std::string_view::npos ? std::string_view{} : row.substr(end);
  return field;
}

// "0100007F:1F90" -> {"127.0.0.1", 8080}; 8 hex digits for IPv4, 32 for IPv6.
std::optional<ListeningSocket> parseLocal(std::string_view local) {
  const auto colon = local.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view hex = local.substr(0, colon);
  const auto port = api::parseWhole<unsigned>(local.substr(colon + 1), 16);
  if (!port || *port > 65535 || (hex.size() != 8 && hex.size() != 32)) return std::nullopt;
  std::array<unsigned char, 16> bytes{};
  for (std::size_t word = 0; word * 8 < hex.size(); ++word) {
    const auto value = api::parseWhole<std::uint32_t>(hex.substr(word * 8, 8), 16);
    if (!value) return std::nullopt;
    // The word as it lay in the guest's memory (little-endian): its bytes in address order.
    for (int i = 0; i < 4; ++i)
      bytes[word * 4 + i] = static_cast<unsigned char>((*value >> (8 * i)) & 0xff);
  }
  char text[INET6_ADDRSTRLEN] = {};
  const int family = hex.size() == 8 ? AF_INET : AF_INET6;
  if (!::inet_ntop(family, bytes.data(), text, sizeof text)) return std::nullopt;
  return ListeningSocket{text, static_cast<std::uint16_t>(*port)};
}

}  // namespace

std::vector<ListeningSocket> ProcNetTcp::listening(std::string_view table) {
  std::vector<ListeningSocket> out;
  while (!table.empty()) {
    const auto end = table.find('\n');
    std::string_view row = table.substr(0, end);
    table = end == std::string_view::npos ? std::string_view{} : table.substr(end + 1);
    // "  sl  local_address rem_address   st ...": sl ends with ':', the header's does not.
    const auto sl = nextField(row);
    const auto local = nextField(row);
    nextField(row);  // rem_address
    const auto state = nextField(row);
    if (sl.empty() || sl.back() != ':' || state != kListen) continue;
    if (auto socket = parseLocal(local)) out.push_back(std::move(*socket));
  }
  return out;
}

}  // namespace berth::fwd
