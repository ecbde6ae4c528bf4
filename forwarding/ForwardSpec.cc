#include "forwarding/ForwardSpec.h"

#include <algorithm>
#include <map>

namespace berth::fwd {
namespace {

// The engine's HostIp when it is a loopback address of the guest, else "".
std::string guestLoopback(const std::string& host_ip) {
  return host_ip.rfind("127.", 0) == 0 || host_ip == "::1" ? host_ip : std::string();
}

}  // namespace

std::string ForwardSpec::hostAddress() const {
  bool v6 = bind_ip.find(':') != std::string::npos;
  return (v6 ? "[" + bind_ip + "]" : bind_ip) + ":" + std::to_string(host_port);
}

std::vector<ForwardSpec> planForwards(const std::vector<api::PublishedPort>& ports,
                                      const PlanOptions& options) {
  std::map<std::tuple<std::string, std::string, std::uint16_t>, ForwardSpec> planned;
  auto add = [&planned](const api::PublishedPort& port, std::string bind_ip) {
    ForwardSpec spec;
    spec.proto = port.proto;
    spec.bind_ip = std::move(bind_ip);
    spec.host_port = port.host_port;
    spec.guest_port = port.host_port;
    spec.guest_loopback = guestLoopback(port.host_ip);
    spec.container_port = port.container_port;
    spec.container_id = port.container_id;
    spec.container_name = port.container_name;
    planned.emplace(spec.key(), std::move(spec));  // first claim wins
  };
  for (const auto& port : ports) {
    if (port.proto == "udp" && !options.udp) continue;
    if (options.bind == BindMode::Loopback) {
      add(port, "127.0.0.1");
      if (options.ipv6) add(port, "::1");
      continue;
    }
    std::string ip = port.host_ip.empty() ? "0.0.0.0" : port.host_ip;
    if (ip.find(':') != std::string::npos && !options.ipv6) continue;
    add(port, ip);
  }
  std::vector<ForwardSpec> out;
  out.reserve(planned.size());
  for (auto& [key, spec] : planned) out.push_back(std::move(spec));
  return out;
}

}  // namespace berth::fwd
