#include "forwarding/GuestWatchOutput.h"

#include <algorithm>

#include "forwarding/GuestWatchScript.h"
#include "forwarding/ListenerSource.h"
#include "forwarding/ProcNetTcp.h"

namespace berth::fwd {
namespace {

constexpr std::size_t kMaxMessage = 200;

bool isLoopback(const std::string& address) {
  return address == "::1" || address.rfind("127.", 0) == 0 || address.rfind("::ffff:127.", 0) == 0;
}

void append(std::string& table, std::string_view line) {
  if (table.size() + line.size() < GuestWatchOutput::kMaxTable) table.append(line).push_back('\n');
}

}  // namespace

bool GuestWatchOutput::line(std::string_view line) {
  if (line == GuestWatchScript::kEndOfTable) {
    sockets_ = ProcNetTcp::listening(rows_);
    rows_.clear();
    sockets_seen_ = true;
  } else if (line == GuestWatchScript::kEndOfNat) {
    hostports_ = CniHostports::parse(rules_);
    rules_.clear();
  } else if (line.starts_with("-A ")) {
    append(rules_, line);
    return false;
  } else if (!ProcNetTcp::listening(line).empty()) {
    append(rows_, line);
    return false;
  } else {
    if (!line.empty()) message_ = std::string(line.substr(0, kMaxMessage));
    return false;
  }
  message_.clear();
  if (!sockets_seen_) return false;
  merge();
  return true;
}

void GuestWatchOutput::reset() {
  rows_.clear();
  rules_.clear();
  sockets_.clear();
  hostports_.clear();
  sockets_seen_ = false;
  listeners_.clear();
  message_.clear();
}

void GuestWatchOutput::merge() {
  listeners_ = sockets_;
  for (const auto& mapping : hostports_) {
    if (!mapping.forwardable()) continue;
    if (mapping.host_ip.empty())
      listeners_.push_back({"0.0.0.0", mapping.port, "", mapping.protocol});
    else if (isLoopback(mapping.host_ip))
      listeners_.push_back({mapping.host_ip, mapping.port, mapping.destination, mapping.protocol});
  }
  std::erase_if(listeners_, [this](const ListeningSocket& s) {
    return filter_.own_ports.count(s.port) || !SockDiag::wildcardOrLoopback(s.address) ||
           (!filter_.loopback && isLoopback(s.address));
  });
  sortListeners(listeners_);
}

}  // namespace berth::fwd
