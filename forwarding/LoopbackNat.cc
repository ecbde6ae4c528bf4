#include "forwarding/LoopbackNat.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

#include "server/net/ChildProcess.h"
#include "server/net/Log.h"

namespace berth::fwd {
namespace {

constexpr std::string_view kTablePrefix = "berth_";

std::string localnetPath(const std::string& device) {
  return "/proc/sys/net/ipv4/conf/" + device + "/route_localnet";
}

std::string readLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

bool writeLine(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value << "\n";
  out.flush();
  return static_cast<bool>(out);
}

// The interface the host routes `guest` through ("dev X" in `ip -o route get`).
std::string routeDevice(const std::string& guest, std::string& why_not) {
  auto route = net::ChildProcess::run({"ip", "-o", "route", "get", guest});
  std::istringstream words(route.output);
  std::string word;
  while (words >> word) {
    if (word == "dev" && words >> word) return word;
  }
  why_not = "no route to " + guest + ": " + route.output;
  return {};
}

// nft identifiers: letters, digits, '_' (a profile's '-' becomes '_').
std::string ownerName(const std::string& name) {
  std::string owner = name;
  for (char& c : owner) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return owner;
}

// What a table says of the route_localnet value it found on its device.
std::string recordComment(const std::string& device, const std::string& value) {
  return "berth: route_localnet of " + device + " was " + value;
}

bool pidAlive(long pid) {
  return pid > 0 && pid <= (1L << 22) && net::ChildProcess::alive(static_cast<int>(pid));
}

// Runs one nft script (one transaction: all of it or nothing).
bool nft(const std::string& script, std::string& error) {
  auto result = net::ChildProcess::run({"nft", script});
  if (result.exit_code != 0) error = "nft: " + result.output;
  return result.exit_code == 0;
}

}  // namespace

std::string LoopbackNat::setupScript(const std::string& table, const std::string& guest,
                                     const std::string& device,
                                     const std::string& localnet_before) {
  const std::string t = "ip " + table;
  std::ostringstream s;
  // add + delete + add: replaces a table of that name, or makes it, in one transaction.
  s << "add table " << t << "; delete table " << t << "; add table " << t << " { comment \""
    << recordComment(device, localnet_before) << "\"; }; "
    << "add map " << t << " ports { type inet_service : inet_service; }; "
    << "add chain " << t
    << " output { type nat hook output priority -100; }; "
    // A port missing from the map fails the lookup, which ends the rule: no DNAT.
    << "add rule " << t << " output ip daddr 127.0.0.1 meta l4proto tcp dnat to " << guest
    << " : tcp dport map @ports; "
    << "add chain " << t << " postrouting { type nat hook postrouting priority 100; }; "
    << "add rule " << t << " postrouting oifname \"" << device
    << "\" ip saddr 127.0.0.0/8 ct status dnat masquerade; "
    // Before conntrack: the guest's replies are still addressed to the host's own address here.
    << "add chain " << t << " guard { type filter hook prerouting priority -300; }; "
    << "add rule " << t << " guard iifname \"" << device << "\" ip saddr 127.0.0.0/8 drop; "
    << "add rule " << t << " guard iifname \"" << device << "\" ip daddr 127.0.0.0/8 drop";
  return s.str();
}

std::string LoopbackNat::syncScript(const std::string& table, const PortMap& ports) {
  std::ostringstream s;
  s << "flush map ip " << table << " ports";
  if (!ports.empty()) {
    s << "; add element ip " << table << " ports { ";
    const char* comma = "";
    for (const auto& [host, guest] : ports) {
      s << comma << host << " : " << guest;
      comma = ", ";
    }
    s << " }";
  }
  return s.str();
}

std::vector<std::string> LoopbackNat::staleTables(const std::string& list_output,
                                                  const std::string& name,
                                                  const std::function<bool(long)>& alive) {
  std::vector<std::string> stale;
  std::istringstream lines(list_output);
  std::string kind, family, table;
  while (lines >> kind >> family >> table) {
    if (kind != "table" || family != "ip" || table.rfind(kTablePrefix, 0) != 0) continue;
    auto marker = table.rfind("_p");
    if (marker == std::string::npos) continue;
    long pid = std::strtol(table.c_str() + marker + 2, nullptr, 10);
    const std::string owner =
        table.substr(kTablePrefix.size(), marker - std::min(marker, kTablePrefix.size()));
    if (owner == name || pid <= 0 || !alive(pid)) stale.push_back(table);
  }
  return stale;
}

std::string LoopbackNat::recordedLocalnet(const std::string& table_listing,
                                          const std::string& device) {
  const std::string prefix = recordComment(device, "");
  auto at = table_listing.find(prefix);
  if (at == std::string::npos || at + prefix.size() >= table_listing.size()) return {};
  const char value = table_listing[at + prefix.size()];
  return value == '0' || value == '1' ? std::string(1, value) : std::string();
}

std::unique_ptr<LoopbackNat> LoopbackNat::open(const std::string& name,
                                               const boost::asio::ip::address_v4& guest,
                                               std::string& why_not) {
  if (::geteuid() != 0) {
    why_not = "needs root";
    return nullptr;
  }
  if (net::ChildProcess::which("nft").empty()) {
    why_not = "nft is not installed (apt-get install nftables)";
    return nullptr;
  }
  const std::string device = routeDevice(guest.to_string(), why_not);
  if (device.empty()) return nullptr;
  if (device == "lo") {
    why_not = "the guest address " + guest.to_string() + " is on this host's loopback";
    return nullptr;
  }
  std::string localnet_before = readLine(localnetPath(device));
  if (localnet_before.empty()) {
    why_not = "no route_localnet setting for " + device;
    return nullptr;
  }

  const std::string owner = ownerName(name);
  std::string listing = net::ChildProcess::run({"nft", "list", "tables"}).output;
  for (const auto& table : staleTables(listing, owner, pidAlive)) {
    // A dead owner's "1" is its own doing: restore what it found, not that.
    auto recorded = recordedLocalnet(
        net::ChildProcess::run({"nft", "list", "table", "ip", table}).output, device);
    if (!recorded.empty()) localnet_before = recorded;
    BERTH_LOG(Info, "forwarding",
              "deleting nftables table " << table << " of a berth that is gone");
    net::ChildProcess::run({"nft", "delete", "table", "ip", table});
  }

  const std::string table = std::string(kTablePrefix) + owner + "_p" + std::to_string(::getpid());
  if (!nft(setupScript(table, guest.to_string(), device, localnet_before), why_not)) return nullptr;
  if (localnet_before != "1" && !writeLine(localnetPath(device), "1")) {
    net::ChildProcess::run({"nft", "delete", "table", "ip", table});
    why_not = "cannot set route_localnet on " + device;
    return nullptr;
  }
  return std::unique_ptr<LoopbackNat>(new LoopbackNat(table, device, localnet_before));
}

LoopbackNat::~LoopbackNat() {
  auto result = net::ChildProcess::run({"nft", "delete", "table", "ip", table_});
  if (result.exit_code != 0)
    BERTH_LOG(Warn, "forwarding", "deleting nftables table " << table_ << ": " << result.output);
  // The interface may be gone already (the ns driver deletes its veth): nothing to restore.
  if (localnet_before_ != "1") writeLine(localnetPath(device_), localnet_before_);
}

bool LoopbackNat::sync(const PortMap& ports, std::string& error) {
  return nft(syncScript(table_, ports), error);
}

}  // namespace berth::fwd
