#include "forwarding/WakePortsFilter.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>

#include "forwarding/WakeLabels.h"

namespace berth::fwd {
namespace {

// ordered_json keeps the client's key order, so an untouched part reads as it was sent.
using Json = nlohmann::ordered_json;

constexpr int kPickTries = 16;

Json* member(Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// "80/tcp" -> "tcp"; a key without a protocol is TCP, as the engine reads it.
std::string protoOf(const std::string& key) {
  const auto slash = key.find('/');
  return slash == std::string::npos ? "tcp" : key.substr(slash + 1);
}

bool emptyHostPort(const Json& binding) {
  if (!binding.is_object()) return false;
  auto it = binding.find("HostPort");
  return it == binding.end() || (it->is_string() && it->get<std::string>().empty());
}

// Binds `fd` to `port` on the loopback of its family; closes it either way.
bool bindsLoopback(int fd, int family, std::uint16_t port, std::uint16_t* chosen = nullptr) {
  if (fd < 0) return false;
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (family == AF_INET) {
    auto* address = reinterpret_cast<sockaddr_in*>(&storage);
    address->sin_family = AF_INET;
    address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address->sin_port = htons(port);
    length = sizeof *address;
  } else {
    auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
    address->sin6_family = AF_INET6;
    address->sin6_addr = in6addr_loopback;
    address->sin6_port = htons(port);
    length = sizeof *address;
  }
  auto* address = reinterpret_cast<sockaddr*>(&storage);
  bool ok = ::bind(fd, address, length) == 0;
  if (ok && chosen) {
    ok = ::getsockname(fd, address, &length) == 0;
    *chosen = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&storage)->sin_port
                                      : reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  }
  ::close(fd);
  return ok;
}

}  // namespace

std::uint16_t WakePortsFilter::pickLoopbackPort(const std::string& proto) {
  const int type = proto == "udp" ? SOCK_DGRAM : SOCK_STREAM;
  const bool ipv6 = bindsLoopback(::socket(AF_INET6, type | SOCK_CLOEXEC, 0), AF_INET6, 0);
  for (int i = 0; i < kPickTries; ++i) {
    std::uint16_t port = 0;
    if (!bindsLoopback(::socket(AF_INET, type | SOCK_CLOEXEC, 0), AF_INET, 0, &port)) return 0;
    if (!ipv6 || bindsLoopback(::socket(AF_INET6, type | SOCK_CLOEXEC, 0), AF_INET6, port))
      return port;
  }
  return 0;
}

std::optional<api::LocalReply> WakePortsFilter::onRequestBody(std::string& body) {
  if (body.find(WakeLabels::kWake) == std::string::npos) return std::nullopt;  // most creates
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;  // the engine will say why
  const Json* labels = member(j, "Labels");
  if (!labels || !WakeLabels::parse(nlohmann::json(*labels)).wake) return std::nullopt;
  Json* host_config = member(j, "HostConfig");
  if (!host_config || !host_config->is_object()) return std::nullopt;
  Json& bindings = (*host_config)["PortBindings"];
  if (bindings.is_null()) bindings = Json::object();
  if (!bindings.is_object()) return std::nullopt;
  // -P: each port the body exposes gets a binding of its own, filled below.
  const Json* publish_all = member(*host_config, "PublishAllPorts");
  if (const Json* exposed = member(j, "ExposedPorts"); exposed && exposed->is_object() &&
                                                       publish_all && publish_all->is_boolean() &&
                                                       publish_all->get<bool>()) {
    for (const auto& [key, unused] : exposed->items()) {
      Json& list = bindings[key];
      if (list.is_null() || (list.is_array() && list.empty()))
        list = Json::array({Json{{"HostIp", ""}, {"HostPort", ""}}});
    }
  }
  std::set<std::uint16_t> picked;  // distinct within the request
  bool changed = false;
  for (auto& [key, list] : bindings.items()) {
    if (!list.is_array()) continue;
    for (auto& binding : list) {
      if (!emptyHostPort(binding)) continue;
      std::uint16_t port = 0;
      for (int i = 0; i < kPickTries && (port == 0 || picked.count(port)); ++i)
        port = pick_(protoOf(key));
      if (port == 0 || picked.count(port))
        return api::LocalReply{
            500, "berth found no free host port for " + key + " of this berth.wake=true container"};
      picked.insert(port);
      binding["HostPort"] = std::to_string(port);
      changed = true;
    }
  }
  if (changed) body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return std::nullopt;
}

std::unique_ptr<api::Filter> WakePortsFilterFactory::create(const api::RequestHead& head) const {
  if (head.route.kind != api::RouteKind::ContainerCreate) return nullptr;
  return std::make_unique<WakePortsFilter>(pick_);
}

}  // namespace berth::fwd
