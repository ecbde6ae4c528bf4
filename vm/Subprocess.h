#pragma once
// Subprocess: runs a short helper command (ip, ...) to completion with a bound on the wait,
// capturing stdout and stderr together. Control-plane only (blocks the calling thread).
// Thread-safe: every call is independent.
#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace berth::vm {

struct SubprocessResult {
  int exit_code = -1;  // -1: did not exit normally (killed, timed out, could not start)
  bool timed_out = false;
  std::string output;  // stdout + stderr, trimmed
};

class Subprocess {
 public:
  // Runs argv[0] (looked up in PATH); kills it after `timeout`.
  static SubprocessResult run(const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // As run(), but throws DriverError("<what>: <command> failed: <output>") unless it exits 0.
  static std::string check(const std::vector<std::string>& argv, const std::string& what,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Starts a long-running argv[0] in a new session (a terminal's Ctrl-C does not reach it),
  // stdin from /dev/null, stdout and stderr appended to `log_path`. Returns its pid; the
  // caller reaps it (waitpid). Throws DriverError when it cannot be started.
  static pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path);
  // Absolute path of `program` on PATH, or "" when it is not installed.
  static std::string which(const std::string& program);
};

}  // namespace berth::vm
