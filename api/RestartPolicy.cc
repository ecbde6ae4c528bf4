#include "api/RestartPolicy.h"

#include <nlohmann/json.hpp>
#include <string>

namespace berth::api {
namespace {

// The value at `pointer` when it is there with type T, else `fallback`.
template <typename T>
T valueAt(const nlohmann::json& body, const nlohmann::json::json_pointer& pointer, T fallback) {
  if (!body.is_object() || !body.contains(pointer)) return fallback;
  const auto& value = body.at(pointer);
  if constexpr (std::is_same_v<T, bool>) {
    return value.is_boolean() ? value.get<bool>() : fallback;
  } else {
    return value.is_string() ? value.get<std::string>() : fallback;
  }
}

}  // namespace

bool comesBackAfterEngineRestart(const nlohmann::json& inspect) {
  const std::string policy =
      valueAt(inspect, "/HostConfig/RestartPolicy/Name"_json_pointer, std::string());
  // `on-failure` is left out: a container the engine stopped for its shutdown did not fail.
  return policy == "always" || policy == "unless-stopped";
}

bool runningNow(const nlohmann::json& inspect) {
  return valueAt(inspect, "/State/Running"_json_pointer, false);
}

}  // namespace berth::api
