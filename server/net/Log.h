#pragma once
// Log: one-line, timestamped log records to stderr (the daemon's stderr is daemon.log).
// Thread-safe: each record is written with a single write(2). Never log request bodies or
// auth headers (X-Registry-Auth, Authorization).
#include <sstream>
#include <string>
#include <string_view>

namespace berth::net {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

class Log {
 public:
  static void setLevel(LogLevel level);
  static bool enabled(LogLevel level);
  static void write(LogLevel level, std::string_view component, std::string_view message);
};

}  // namespace berth::net

// BERTH_LOG(Info, "relay", "conn " << id << " " << route);
#define BERTH_LOG(level, component, expr)                                                          \
  do {                                                                                             \
    if (::berth::net::Log::enabled(::berth::net::LogLevel::level)) {                               \
      std::ostringstream berth_log_stream_;                                                        \
      berth_log_stream_ << expr; /* NOLINT(bugprone-macro-parentheses): a << chain */              \
      ::berth::net::Log::write(::berth::net::LogLevel::level, component, berth_log_stream_.str()); \
    }                                                                                              \
  } while (false)
