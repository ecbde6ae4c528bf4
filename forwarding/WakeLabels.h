#pragma once
// WakeLabels: what a container's labels ask of wake-on-connect (issue 18, README "Wake on first
// connection"): `berth.wake=true` keeps its fixed host ports open while it is stopped and starts
// it on the first connection, `berth.wake.timeout` bounds that wait (default 30 s),
// `berth.idle=DURATION` stops it after that long without a connection. A bad value never
// throws: it is named in `problems` (one line each, for the log) and its default is used.
// Pure value code; thread-safe.
#include <chrono>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace berth::fwd {

struct WakeLabels {
  static constexpr const char* kWake = "berth.wake";
  static constexpr const char* kTimeout = "berth.wake.timeout";
  static constexpr const char* kIdle = "berth.idle";
  static constexpr std::chrono::milliseconds kDefaultTimeout{30'000};
  // GET /containers/json?all=1&filters={"label":["berth.wake"]}: wake containers, stopped too.
  static constexpr const char* kListTarget =
      "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.wake%22%5D%7D";

  bool wake = false;
  std::chrono::milliseconds timeout = kDefaultTimeout;
  std::chrono::milliseconds idle{0};  // 0: never stopped for idleness
  std::vector<std::string> problems;

  // From a container's labels (`Config.Labels` of an inspect, `Labels` of a list entry); a
  // missing or non-object `labels` asks for nothing.
  static WakeLabels parse(const nlohmann::json& labels);
  friend bool operator==(const WakeLabels&, const WakeLabels&) = default;
};

}  // namespace berth::fwd
