#include "vm/GuestLoopbackDnat.h"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>

namespace berth::vm {
namespace {

bool ipv4(const std::string& text, in_addr& out) {
  return ::inet_pton(AF_INET, text.c_str(), &out) == 1;
}

// IPv4:PORT, as portmap's --to-destination writes a container's address.
bool ipv4AndPort(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  in_addr address{};
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, port);
  return ipv4(text.substr(0, colon), address) && ec == std::errc() && end == last && port > 0 &&
         port <= 65535;
}

}  // namespace

std::string GuestLoopbackDnat::redirectable(const std::string& to) {
  in_addr address{};
  if (ipv4(to, address)) {
    if ((ntohl(address.s_addr) >> 24) == 127) return "";
    return to + " is not a loopback address";
  }
  if (ipv4AndPort(to)) return "";
  in6_addr v6{};
  if (::inet_pton(AF_INET6, to.c_str(), &v6) == 1)
    return "a connection that reaches the guest over IPv4 cannot be redirected to the IPv6 "
           "loopback " +
           to;
  return "'" + to + "' is neither an IPv4 address nor IPv4:PORT";
}

void GuestLoopbackDnat::add(std::uint16_t port, const std::string& to) {
  const auto why = redirectable(to);
  if (!why.empty()) throw std::invalid_argument(why);
  ++counts_[{port, to}];
}

void GuestLoopbackDnat::remove(std::uint16_t port, const std::string& to) {
  auto it = counts_.find({port, to});
  if (it != counts_.end() && --it->second <= 0) counts_.erase(it);
}

GuestLoopbackDnat::Table GuestLoopbackDnat::wanted() const {
  Table table;
  // Ordered by (port, address): emplace keeps a port's lowest address.
  for (const auto& [key, count] : counts_) table.emplace(key.first, key.second);
  return table;
}

std::optional<GuestLoopbackDnat::Change> GuestLoopbackDnat::pending() const {
  auto table = wanted();
  if (applied_ && *applied_ == table) return std::nullopt;
  auto text = script(table, guest_address_);
  return Change{std::move(table), std::move(text)};
}

std::string GuestLoopbackDnat::script(const Table& table, const std::string& guest_address) {
  in_addr checked{};
  if (!ipv4(guest_address, checked))
    throw std::invalid_argument("guest address '" + guest_address + "' is not an IPv4 address");
  for (const auto& [port, to] : table) {
    const auto why = redirectable(to);
    if (!why.empty()) throw std::invalid_argument(why);
  }
  const std::string chain = kChain;
  // Three execs in all (ip, iptables-restore, iptables -C): each costs a TCG guest dearly.
  std::string s =
      "set -e; a=" + guest_address +
      "; read -r _ dev _ < <(ip -o -4 addr show to \"$a/32\") || :; "
      "[ -n \"$dev\" ] || { echo \"no interface of the guest holds $a\" >&2; exit 1; }; "
      "l=/proc/sys/net/ipv4/conf/$dev/route_localnet; ";
  // Packets to 127/8 that come from outside are martians unless route_localnet is on: on before
  // the first redirect, off after the last.
  if (!table.empty()) s += "echo 1 >$l; ";
  s += "iptables-restore -w --noflush <<EOF\n*nat\n:" + chain + " - [0:0]\n-F " + chain + "\n";
  for (const auto& [port, to] : table) {
    const auto p = std::to_string(port);
    // A loopback address keeps the port; IPv4:PORT names its own.
    s += "-A " + chain + " -d " + guest_address + "/32 -i $dev -p tcp --dport " + p +
         " -j DNAT --to-destination " + to + (to.find(':') == std::string::npos ? ":" + p : "") +
         "\n";
  }
  s += "COMMIT\nEOF\n";
  s += "iptables -w -t nat -C PREROUTING -j " + chain + " 2>/dev/null || iptables -w -t nat -I " +
       "PREROUTING -j " + chain;
  if (table.empty()) s += "; echo 0 >$l";
  return s;
}

}  // namespace berth::vm
