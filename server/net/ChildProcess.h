#pragma once
// ChildProcess: the one way berth starts, watches and stops another program (LLVM's
// Program.h idea): spawn with argv, env, fds, a new session; wait with a timeout through a
// pidfd (no pid-reuse race, no reaper thread needed); stop with grace (TERM, then KILL);
// adopt a process found by its pid file only when it is alive AND runs the expected program
// (never a recycled pid of another one); run a helper to completion with its output.
// Blocking: never on an I/O thread. Thread-safe: several threads may wait, signal and ask
// running() at once (the reaping is serialised inside).
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace berth::net {

class ProcessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ExitStatus {
  int code = -1;      // exit code when it exited normally, else -1
  int signal = 0;     // the signal that ended it, else 0
  bool known = true;  // false for an adopted process (not our child: its status is its parent's)
  std::string describe() const;  // "exited with status 3", "was killed by signal 9", "exited"
};

struct SpawnOptions {
  std::vector<std::string> argv;           // argv[0] is looked up in PATH unless it has a '/'
  std::map<std::string, std::string> env;  // set on top of this process's environment
  std::string input = "/dev/null";         // its stdin; "" inherits ours
  std::string output;  // stdout and stderr appended to this file; "" inherits ours
  std::vector<std::pair<int, int>> fds;  // (our fd, its number in the child) passed on
  bool new_session = false;              // setsid: a terminal's Ctrl-C and our exit do not reach it
};

// The result of run(): a helper that ran to completion (or was stopped at its deadline).
struct RunResult {
  int exit_code = -1;  // -1: did not exit normally (killed, timed out, could not start)
  bool timed_out = false;
  std::string output;  // stdout + stderr, trailing whitespace trimmed
};

class ChildProcess {
 public:
  static constexpr std::chrono::milliseconds kForever = std::chrono::milliseconds::max();

  // Starts a program; throws ProcessError("cannot run <argv0>: <reason>").
  static ChildProcess spawn(const SpawnOptions& options);
  // The process named by `pid_file` when it is alive (not a zombie) and runs `program`
  // (isProgram); else nullopt.
  static std::optional<ChildProcess> adopt(const std::string& pid_file, const std::string& program);
  static std::optional<ChildProcess> adoptPid(int pid, const std::string& program);

  // Runs argv to completion, stdin from the file `input`; after `timeout` it is stopped (TERM,
  // 1 s, KILL). Never throws: a program that cannot start gives exit_code -1 and the reason.
  static RunResult run(const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10),
                       const std::string& input = "/dev/null");
  // As run(), but throws ProcessError("<what>: `<command>` failed: <output>") unless it exits 0.
  static std::string check(const std::vector<std::string>& argv, const std::string& what,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // True when `pid` exists and is not a zombie.
  static bool alive(int pid);
  // True when `pid` is alive and runs `program`: its executable or its kernel name (comm) has
  // `program`'s file name.
  static bool isProgram(int pid, const std::string& program);
  // Absolute path of `program` on PATH (or `program` itself when it has a '/' and is
  // executable), or "" when it is not installed.
  static std::string which(const std::string& program);
  // This process's executable; a binary replaced on disk since it started (an upgrade) gives
  // the path of the new one. Throws ProcessError.
  static std::string selfExecutable();

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Closes the pidfd; the process itself is left alone (stop() it first if it must go).
  ~ChildProcess();

  int pid() const { return pid_; }
  // False once it has ended (and reaps our own child).
  bool running();
  // Its exit, or nullopt when it still runs after `timeout`.
  std::optional<ExitStatus> wait(std::chrono::milliseconds timeout);
  // Sends `signal` unless it has ended; false when it could not be sent.
  bool signal(int signal) const;
  // Sends `signal` (TERM by default), waits `grace`, then KILLs it and waits; its exit.
  ExitStatus stop(std::chrono::milliseconds grace, int signal = SIGTERM);

 private:
  ChildProcess(int pid, int pidfd, bool ours) : pid_(pid), pidfd_(pidfd), ours_(ours) {}
  bool reapIfEnded();

  int pid_ = 0;
  int pidfd_ = -1;
  bool ours_ = false;  // our child: waitpid gives its status and reaps it
  std::unique_ptr<std::mutex> mutex_ = std::make_unique<std::mutex>();  // guards the reaping
  std::atomic<bool> exited_{false};
  ExitStatus status_;
};

}  // namespace berth::net
