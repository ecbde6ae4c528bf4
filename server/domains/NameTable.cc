#include "server/domains/NameTable.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "api/Numbers.h"
#include "forwarding/WakeLabels.h"

namespace berth::server {
namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string label(const nlohmann::json& item, const char* key) {
  auto labels = item.find("Labels");
  if (labels == item.end() || !labels->is_object()) return "";
  auto value = labels->find(key);
  return value != labels->end() && value->is_string() ? value->get<std::string>() : "";
}

// The container's address in the guest: its first network's IP (networks by name), or the
// guest's own loopback for a container on the host network.
std::string addressOf(const nlohmann::json& item) {
  auto host_config = item.find("HostConfig");
  if (host_config != item.end() && host_config->is_object() &&
      host_config->value("NetworkMode", std::string()) == "host") {
    return "127.0.0.1";
  }
  auto settings = item.find("NetworkSettings");
  if (settings == item.end() || !settings->is_object()) return "";
  auto networks = settings->find("Networks");
  if (networks == settings->end() || !networks->is_object()) return "";
  for (const auto& [name, network] : networks->items()) {  // nlohmann: keys in order
    if (!network.is_object()) continue;
    std::string ip = network.value("IPAddress", std::string());
    if (!ip.empty()) return ip;
  }
  return "";
}

std::vector<int> tcpPorts(const nlohmann::json& item) {
  std::set<int> ports;
  auto list = item.find("Ports");
  if (list != item.end() && list->is_array()) {
    for (const auto& port : *list) {
      if (!port.is_object() || port.value("Type", std::string()) != "tcp") continue;
      auto number = port.find("PrivatePort");
      if (number != port.end() && number->is_number_integer()) ports.insert(number->get<int>());
    }
  }
  return {ports.begin(), ports.end()};
}

}  // namespace

NameTable NameTable::fromList(const nlohmann::json& containers, const nlohmann::json& sleepers) {
  NameTable table;
  std::set<std::string> ids;
  auto add = [&](const nlohmann::json& item, bool asleep) {
    if (!item.is_object()) return;
    auto names = item.find("Names");
    if (names == item.end() || !names->is_array() || names->empty() || !(*names)[0].is_string()) {
      return;
    }
    Container c;
    c.id = item.value("Id", std::string());
    c.name = (*names)[0].get<std::string>();
    if (!c.name.empty() && c.name[0] == '/') c.name.erase(0, 1);
    if (c.name.empty() || (!c.id.empty() && !ids.insert(c.id).second)) return;
    if (asleep) {
      if (item.value("State", std::string()) == "running") return;
      auto labels = item.find("Labels");
      const auto wake =
          fwd::WakeLabels::parse(labels != item.end() ? *labels : nlohmann::json::object());
      if (!wake.wake) return;
      c.asleep = true;
      c.wake_timeout = wake.timeout;
    }
    c.service = label(item, "com.docker.compose.service");
    c.project = label(item, "com.docker.compose.project");
    c.address = addressOf(item);
    c.ports = tcpPorts(item);
    c.port_label = label(item, kPortLabel);
    table.containers_.push_back(std::move(c));
  };
  if (containers.is_array())
    for (const auto& item : containers) add(item, false);
  if (sleepers.is_array())
    for (const auto& item : sleepers) add(item, true);
  std::sort(table.containers_.begin(), table.containers_.end(),
            [](const Container& a, const Container& b) { return a.name < b.name; });
  for (std::size_t i = 0; i < table.containers_.size(); ++i) {
    const Container& c = table.containers_[i];
    table.by_name_.emplace(lower(c.name), i);
    if (!c.service.empty() && !c.project.empty())
      table.by_service_.emplace(lower(c.service + "." + c.project), i);  // first replica wins
  }
  return table;
}

NameTable::Lookup NameTable::find(const std::string& name) const {
  Lookup out;
  const std::size_t* index = nullptr;
  if (auto n = by_name_.find(name); n != by_name_.end()) {
    index = &n->second;
  } else if (auto s = by_service_.find(name); s != by_service_.end()) {
    index = &s->second;
  }
  if (index == nullptr) return out;
  out.container = &containers_[*index];
  const Container& c = *out.container;
  if (c.asleep) {
    out.outcome = Outcome::Asleep;
    return out;
  }
  if (!c.port_label.empty()) {
    const auto port = api::parsePort(c.port_label);
    if (!port) {
      out.outcome = Outcome::BadLabel;
      return out;
    }
    out.port = *port;
  } else if (c.ports.size() == 1) {
    out.port = c.ports[0];
  } else {
    out.outcome = c.ports.empty() ? Outcome::NoPort : Outcome::SeveralPorts;
    return out;
  }
  out.outcome = c.address.empty() ? Outcome::NoAddress : Outcome::Found;
  return out;
}

std::vector<std::string> NameTable::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size() + by_service_.size());
  for (const auto& [name, index] : by_name_) out.push_back(name);
  for (const auto& [name, index] : by_service_)
    if (!by_name_.count(name)) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace berth::server
