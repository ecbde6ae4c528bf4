#include "server/net/Log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace berth::net {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
constexpr const char* kLevelNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void Log::setLevel(LogLevel level) { g_level = static_cast<int>(level); }

bool Log::enabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void Log::write(LogLevel level, std::string_view component, std::string_view message) {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  std::string line;
  line.reserve(message.size() + 64);
  line.append(stamp).append(" ").append(kLevelNames[static_cast<int>(level)]).append(" [");
  line.append(component).append("] ").append(message).append("\n");
  // One write(2) per record keeps lines whole when several threads log.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace berth::net
