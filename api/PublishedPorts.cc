#include "api/PublishedPorts.h"

#include <nlohmann/json.hpp>
#include <string_view>

#include "api/Numbers.h"

namespace berth::api {
namespace {

bool relayable(const std::string& proto) { return proto == "tcp" || proto == "udp"; }

std::string stringField(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string nameOf(const std::string& raw) {
  return !raw.empty() && raw.front() == '/' ? raw.substr(1) : raw;
}

}  // namespace

namespace {

// A port map of an inspect: keys are "80/tcp"; values are null (exposed only) or
// [{HostIp, HostPort}, ...]. NetworkSettings.Ports and HostConfig.PortBindings share it.
void addPortMap(const nlohmann::json& ports, const nlohmann::json& inspect,
                std::vector<PublishedPort>& out) {
  if (!ports.is_object()) return;
  const std::string id = stringField(inspect, "Id");
  const std::string name = nameOf(stringField(inspect, "Name"));
  for (const auto& [key, bindings] : ports.items()) {
    auto slash = key.find('/');
    PublishedPort base;
    base.proto = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
    const auto container_port = parsePort(std::string_view(key).substr(0, slash));
    if (!relayable(base.proto) || !container_port || !bindings.is_array()) continue;
    base.container_port = *container_port;
    base.container_id = id;
    base.container_name = name;
    for (const auto& binding : bindings) {
      if (!binding.is_object()) continue;
      PublishedPort port = base;
      port.host_ip = stringField(binding, "HostIp");
      const auto host_port = parsePort(stringField(binding, "HostPort"));
      if (!host_port) continue;
      port.host_port = *host_port;
      out.push_back(std::move(port));
    }
  }
}

const nlohmann::json* objectField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? &*it : nullptr;
}

}  // namespace

std::vector<PublishedPort> publishedPortsFromInspect(const nlohmann::json& inspect) {
  std::vector<PublishedPort> out;
  auto state = objectField(inspect, "State");
  if (!state || !state->value("Running", false)) return out;
  if (auto settings = objectField(inspect, "NetworkSettings")) {
    if (auto ports = objectField(*settings, "Ports")) addPortMap(*ports, inspect, out);
  }
  return out;
}

std::vector<PublishedPort> requestedPortsFromInspect(const nlohmann::json& inspect) {
  std::vector<PublishedPort> out;
  auto host_config = objectField(inspect, "HostConfig");
  if (!host_config || stringField(*host_config, "NetworkMode") == "host") return out;
  if (auto bindings = objectField(*host_config, "PortBindings")) {
    addPortMap(*bindings, inspect, out);
  }
  return out;
}

std::vector<PublishedPort> publishedPortsFromList(const nlohmann::json& list) {
  std::vector<PublishedPort> out;
  if (!list.is_array()) return out;
  for (const auto& container : list) {
    if (!container.is_object()) continue;
    auto state = container.find("State");
    if (state != container.end() && state->is_string() && *state != "running") continue;
    auto ports = container.find("Ports");
    if (ports == container.end() || !ports->is_array()) continue;
    std::string name;
    auto names = container.find("Names");
    if (names != container.end() && names->is_array() && !names->empty() &&
        names->front().is_string()) {
      name = nameOf(names->front().get<std::string>());
    }
    for (const auto& entry : *ports) {
      if (!entry.is_object()) continue;
      auto public_port = entry.find("PublicPort");
      auto private_port = entry.find("PrivatePort");
      if (public_port == entry.end() || !public_port->is_number_unsigned() ||
          private_port == entry.end() || !private_port->is_number_unsigned()) {
        continue;  // exposed, not published
      }
      auto pub = public_port->get<std::uint64_t>();
      auto priv = private_port->get<std::uint64_t>();
      if (pub == 0 || pub > 65535 || priv == 0 || priv > 65535) continue;
      PublishedPort port;
      port.proto = entry.value("Type", std::string("tcp"));
      if (!relayable(port.proto)) continue;
      port.host_ip = stringField(entry, "IP");
      port.host_port = static_cast<std::uint16_t>(pub);
      port.container_port = static_cast<std::uint16_t>(priv);
      port.container_id = stringField(container, "Id");
      port.container_name = name;
      out.push_back(std::move(port));
    }
  }
  return out;
}

}  // namespace berth::api
