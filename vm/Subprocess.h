#pragma once
// Subprocess: runs helper programs for the control plane (qemu-img, ssh-keygen, ssh, qemu)
// with an argv (never a shell), capturing output or sending it to a log file.
// Thread-safe: every call is independent; spawn() children are reaped by their owner
// (waitpid), run() reaps its own child. Errors starting a program throw DriverError.
#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace berth::vm {

struct RunResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved
};

class Subprocess {
 public:
  // Runs argv to completion (or kills it after `timeout`) and returns its output.
  static RunResult run(const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Starts argv in a new session (so a terminal's Ctrl-C does not reach it), stdin from
  // /dev/null, stdout and stderr appended to log_path. Returns its pid; the caller reaps it.
  static pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path);
  // Absolute path of `program` found on PATH, or "" when it is not installed.
  static std::string which(const std::string& program);
};

}  // namespace berth::vm
