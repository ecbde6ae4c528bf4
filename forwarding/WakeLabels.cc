#include "forwarding/WakeLabels.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "vm/ProfileConfig.h"

namespace berth::fwd {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// A label's value, or null when the label is absent (or not a string: the engine only
// stores strings, so that is a malformed reply, treated as absent).
const std::string* label(const nlohmann::json& labels, const char* key) {
  auto it = labels.find(key);
  return it != labels.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

// A duration label's value in milliseconds, or -1 when it is not one.
long long millis(const std::string& text) {
  try {
    return vm::parseDurationMillis(text);
  } catch (const std::invalid_argument&) {
    return -1;
  }
}

std::string quoted(const char* key, const std::string& value) {
  return std::string(key) + "=" + nlohmann::json(value).dump();
}

}  // namespace

WakeLabels WakeLabels::parse(const nlohmann::json& labels) {
  WakeLabels out;
  if (!labels.is_object()) return out;
  if (const auto* wake = label(labels, kWake)) {
    const std::string value = lower(*wake);
    if (value == "true" || value == "1" || value == "yes") {
      out.wake = true;
    } else if (value != "false" && value != "0" && value != "no" && !value.empty()) {
      out.problems.push_back(quoted(kWake, *wake) +
                             " is not true or false: the container does not wake on connect");
    }
  }
  if (const auto* timeout = label(labels, kTimeout)) {
    const long long ms = millis(*timeout);
    if (ms > 0) {
      out.timeout = std::chrono::milliseconds(ms);
    } else {
      out.problems.push_back(quoted(kTimeout, *timeout) +
                             " is not a duration above 0 (e.g. 30s, 2m): waiting the default 30s");
    }
  }
  if (const auto* idle = label(labels, kIdle)) {
    const long long ms = millis(*idle);
    if (ms >= 0) {
      out.idle = std::chrono::milliseconds(ms);
    } else {
      out.problems.push_back(
          quoted(kIdle, *idle) +
          " is not a duration (e.g. 30s, 10m; 0 never): never stopped for idleness");
    }
    if (ms > 0 && !out.wake) {
      out.problems.push_back(quoted(kIdle, *idle) +
                             " is ignored without berth.wake=true (nothing would start it again)");
      out.idle = std::chrono::milliseconds(0);
    }
  }
  return out;
}

}  // namespace berth::fwd
