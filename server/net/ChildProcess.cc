#include "server/net/ChildProcess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "server/net/Files.h"

extern char** environ;

namespace berth::net {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int pidfdOpen(int pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::string baseName(std::string path) {
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The posix_spawn attributes and file actions of one spawn, released on scope exit.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
};

// Spawns with `setup`'s file actions; the child starts with no blocked and no ignored signal
// (a daemon thread may block some; dockerd and QEMU must get TERM).
int spawnWith(SpawnSetup& setup, const SpawnOptions& options) {
  if (options.argv.empty()) throw ProcessError("internal error: empty command");
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&setup.attributes, flags);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&setup.attributes, &none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(&setup.attributes, &all);
  for (const auto& [ours, theirs] : options.fds) {
    posix_spawn_file_actions_adddup2(&setup.actions, ours, theirs);
  }

  std::vector<std::string> env_entries;
  std::vector<char*> envp;
  char** env = environ;
  if (!options.env.empty()) {
    std::map<std::string, std::string> merged;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      auto eq = entry.find('=');
      if (eq != std::string::npos) merged[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& [k, v] : options.env) merged[k] = v;
    for (const auto& [k, v] : merged) env_entries.push_back(k + "=" + v);
    for (auto& e : env_entries) envp.push_back(e.data());
    envp.push_back(nullptr);
    env = envp.data();
  }
  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &setup.actions, &setup.attributes, argv.data(), env);
  if (rc != 0) throw ProcessError("cannot run " + options.argv[0] + ": " + std::strerror(rc));
  return pid;
}

int toPollTimeout(milliseconds left) {
  return static_cast<int>(std::clamp<milliseconds::rep>(left.count(), 0, 1000));
}

}  // namespace

std::string ExitStatus::describe() const {
  if (!known) return "exited";
  if (signal != 0) return "was killed by signal " + std::to_string(signal);
  return "exited with status " + std::to_string(code);
}

ChildProcess ChildProcess::spawn(const SpawnOptions& options) {
  SpawnSetup setup;
  if (!options.input.empty()) {
    posix_spawn_file_actions_addopen(&setup.actions, 0, options.input.c_str(), O_RDONLY, 0);
  }
  int log = -1;
  if (!options.output.empty()) {
    log = ::open(options.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log < 0) {
      throw ProcessError("cannot open " + options.output + ": " + std::strerror(errno));
    }
    posix_spawn_file_actions_adddup2(&setup.actions, log, 1);
    posix_spawn_file_actions_adddup2(&setup.actions, log, 2);
  }
  int pid = -1;
  try {
    pid = spawnWith(setup, options);
  } catch (...) {
    if (log >= 0) ::close(log);
    throw;
  }
  if (log >= 0) ::close(log);
  return ChildProcess(pid, pidfdOpen(pid), true);
}

std::optional<ChildProcess> ChildProcess::adopt(const std::string& pid_file,
                                                const std::string& program) {
  const std::string text = Files::readTrimmed(pid_file);
  char* end = nullptr;
  const long pid = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || pid <= 0 || pid > (1L << 22)) return std::nullopt;
  return adoptPid(static_cast<int>(pid), program);
}

std::optional<ChildProcess> ChildProcess::adoptPid(int pid, const std::string& program) {
  // The pidfd first, then the check: a pid recycled after the check cannot slip in.
  const int pidfd = pidfdOpen(pid);
  if (!isProgram(pid, program)) {
    if (pidfd >= 0) ::close(pidfd);
    return std::nullopt;
  }
  ChildProcess adopted(pid, pidfd, false);
  adopted.status_.known = false;
  return adopted;
}

bool ChildProcess::alive(int pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  const std::string stat = Files::readOr("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  const char state = stat[close + 2];
  return state != 'Z' && state != 'X';
}

bool ChildProcess::isProgram(int pid, const std::string& program) {
  if (!alive(pid)) return false;
  const std::string want = baseName(program);
  const std::string proc = "/proc/" + std::to_string(pid);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink(proc + "/exe", ec);
  if (!ec && baseName(exe.string()) == want) return true;
  // Its name as the kernel keeps it (15 bytes): a script's name, or one we may not readlink.
  return Files::readTrimmed(proc + "/comm") == want.substr(0, 15);
}

std::string ChildProcess::which(const std::string& program) {
  if (program.empty()) return "";
  if (program.find('/') != std::string::npos)
    return ::access(program.c_str(), X_OK) == 0 ? program : "";
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string ChildProcess::selfExecutable() {
  std::error_code ec;
  std::string path = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) throw ProcessError("cannot find the berth executable: " + ec.message());
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
  return path;
}

RunResult ChildProcess::run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                            const std::string& input) {
  RunResult result;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result.output = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  std::optional<ChildProcess> child;
  {
    SpawnSetup setup;
    posix_spawn_file_actions_addopen(&setup.actions, 0, input.c_str(), O_RDONLY, 0);
    SpawnOptions options;
    options.argv = argv;
    options.fds = {{pipe_fds[1], 1}, {pipe_fds[1], 2}};
    try {
      const int pid = spawnWith(setup, options);
      child.emplace(ChildProcess(pid, pidfdOpen(pid), true));
    } catch (const ProcessError& e) {
      result.output = e.what();
    }
  }
  ::close(pipe_fds[1]);
  if (!child) {
    ::close(pipe_fds[0]);
    return result;
  }
  const auto deadline = Clock::now() + timeout;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, toPollTimeout(left));
    if (n <= 0) continue;
    const ssize_t got = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (result.output.size() < (1u << 20)) {
      result.output.append(buffer, static_cast<std::size_t>(got));
    }
  }
  ::close(pipe_fds[0]);
  ExitStatus status;
  if (result.timed_out) {
    status = child->stop(std::chrono::seconds(1));
  } else {
    // Its output ended; it may still be exiting (or have left a daemon holding the pipe).
    auto waited = child->wait(std::max(
        milliseconds(0), std::chrono::duration_cast<milliseconds>(deadline - Clock::now())));
    if (waited) {
      status = *waited;
    } else {
      result.timed_out = true;
      status = child->stop(std::chrono::seconds(1));
    }
  }
  if (!result.timed_out && status.signal == 0) result.exit_code = status.code;
  while (!result.output.empty() && (result.output.back() == '\n' || result.output.back() == ' ')) {
    result.output.pop_back();
  }
  return result;
}

std::string ChildProcess::check(const std::vector<std::string>& argv, const std::string& what,
                                std::chrono::milliseconds timeout) {
  RunResult r = run(argv, timeout);
  if (r.exit_code != 0) {
    std::string command;
    for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
    throw ProcessError(what + ": `" + command + "` " + (r.timed_out ? "timed out" : "failed") +
                       (r.output.empty() ? "" : ": " + r.output));
  }
  return r.output;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, 0)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      ours_(other.ours_),
      mutex_(std::move(other.mutex_)),
      exited_(other.exited_.load()),
      status_(other.status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pidfd_ >= 0) ::close(pidfd_);
    pid_ = std::exchange(other.pid_, 0);
    pidfd_ = std::exchange(other.pidfd_, -1);
    ours_ = other.ours_;
    mutex_ = std::move(other.mutex_);
    exited_ = other.exited_.load();
    status_ = other.status_;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pidfd_ >= 0) ::close(pidfd_);
}

bool ChildProcess::reapIfEnded() {
  if (exited_) return true;
  std::lock_guard lock(*mutex_);
  if (exited_) return true;
  if (ours_) {
    int status = 0;
    pid_t got;
    while ((got = ::waitpid(pid_, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (got == pid_) {
      status_.known = true;
      status_.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      status_.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      exited_ = true;
    } else if (got < 0) {
      status_.known = false;  // not ours to reap any more (ECHILD): gone
      exited_ = true;
    }
    return exited_;
  }
  if (pidfd_ >= 0) {
    pollfd p{pidfd_, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) exited_ = true;
  } else if (!alive(pid_)) {
    exited_ = true;
  }
  return exited_;
}

bool ChildProcess::running() { return pid_ > 0 && !reapIfEnded(); }

std::optional<ExitStatus> ChildProcess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = timeout == kForever ? Clock::time_point::max() : Clock::now() + timeout;
  for (;;) {
    if (pid_ <= 0) return status_;  // moved from
    if (reapIfEnded()) {
      std::lock_guard lock(*mutex_);
      return status_;
    }
    const auto now = Clock::now();
    if (now >= deadline) return std::nullopt;
    // Rounded up: waking a little early would end the wait before its time.
    const auto left = deadline == Clock::time_point::max()
                          ? milliseconds(1000)
                          : std::chrono::ceil<milliseconds>(deadline - now);
    if (pidfd_ >= 0) {
      // Readable once the process has ended (a zombie of ours, or gone).
      pollfd p{pidfd_, POLLIN, 0};
      ::poll(&p, 1, toPollTimeout(left));
    } else {
      std::this_thread::sleep_for(std::min(left, milliseconds(20)));
    }
  }
}

bool ChildProcess::signal(int sig) const {
  if (pid_ <= 0 || exited_) return false;
  if (pidfd_ >= 0) return ::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0) == 0;
  return ::kill(pid_, sig) == 0;
}

ExitStatus ChildProcess::stop(std::chrono::milliseconds grace, int sig) {
  if (auto done = wait(milliseconds(0))) return *done;
  signal(sig);
  if (auto done = wait(grace)) return *done;
  signal(SIGKILL);
  if (auto done = wait(std::chrono::seconds(10))) return *done;
  ExitStatus unknown;
  unknown.known = false;
  return unknown;
}

}  // namespace berth::net
