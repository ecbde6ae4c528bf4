// Fuzz target: the wake-ports filter (forwarding/WakePortsFilter) on arbitrary create bodies,
// with a picker that counts up from 40000 (or finds nothing, by the first byte). A body it
// rewrites must still be a JSON object whose port bindings all have a host port.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "api/Route.h"
#include "forwarding/WakePortsFilter.h"

namespace {

bool everyBindingHasAHostPort(const nlohmann::json& body) {
  const auto host_config = body.find("HostConfig");
  if (host_config == body.end() || !host_config->is_object()) return false;
  const auto bindings = host_config->find("PortBindings");
  if (bindings == host_config->end() || !bindings->is_object()) return false;
  for (const auto& [key, list] : bindings->items()) {
    if (!list.is_array()) continue;
    for (const auto& binding : list) {
      if (!binding.is_object()) continue;
      const auto port = binding.find("HostPort");
      if (port == binding.end() || (port->is_string() && port->get<std::string>().empty()))
        return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace berth;
  if (size == 0) return 0;
  const bool ports_left = (data[0] & 1) != 0;
  std::uint16_t next = 40000;
  const fwd::WakePortsFilterFactory factory(
      [&](const std::string&) -> std::uint16_t { return ports_left ? next++ : 0; });
  const char* target = "/v1.41/containers/create?name=x";
  const api::Route route = api::RouteMatcher::match("POST", target);
  auto filter = factory.create({"POST", target, route});
  if (!filter || !filter->wantsRequestBody()) std::abort();
  const std::string sent(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string body = sent;
  if (filter->onRequestBody(body) || body == sent) return 0;
  const auto rewritten = nlohmann::json::parse(body, nullptr, false);
  if (!rewritten.is_object() || !everyBindingHasAHostPort(rewritten)) std::abort();
  return 0;
}
