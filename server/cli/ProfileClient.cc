#include "server/cli/ProfileClient.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "server/net/HttpClient.h"

extern char** environ;

namespace berth::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A daemon this process launched (start's failure path) stays a zombie until reaped: reap it,
// and count a zombie as gone.
bool processAlive(int pid) {
  if (pid <= 0) return false;
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';
}

// The last line of `path` that looks like an error, else its last line.
std::string lastError(const std::string& path) {
  std::ifstream in(path);
  std::string line, last, last_error;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    if (line.find("ERROR") != std::string::npos || line.find("error") != std::string::npos) {
      last_error = line;
    }
  }
  return last_error.empty() ? last : last_error;
}

}  // namespace

void ProfileArgs::addTo(CLI::App* cmd, bool with_positional) {
  if (with_positional) {
    cmd->add_option("profile", positional, "Profile name (default: $BERTH_PROFILE or 'default')");
  }
  cmd->add_option("-p,--profile", flag, "Profile name (default: $BERTH_PROFILE or 'default')");
}

std::string ProfileArgs::resolve() const {
  if (!positional.empty() && !flag.empty() && positional != flag) {
    throw std::invalid_argument("two different profiles given ('" + positional + "' and -p '" +
                                flag + "'); name one");
  }
  std::string name = !positional.empty() ? positional
                     : !flag.empty()     ? flag
                                         : vm::ProfilePaths::defaultProfileName();
  vm::ProfilePaths::checkName(name);
  return name;
}

ProfileClient::ProfileClient(const ProfileArgs& args)
    : paths_(vm::ProfilePaths::forProfile(args.resolve())) {}

ProfileClient::ProfileClient(vm::ProfilePaths paths) : paths_(std::move(paths)) {}

std::string ProfileClient::command(const std::string& verb) const {
  return "berth " + verb +
         (paths_.name == vm::ProfilePaths::kDefaultProfile ? "" : " " + paths_.name);
}

bool ProfileClient::exists() const { return std::filesystem::exists(paths_.config_file); }

std::string ProfileClient::keptData() const {
  // What `berth delete` keeps: the driver state's data folder (StopCommand's deleteProfile).
  const std::string data = paths_.state_dir + "/data";
  std::error_code ec;
  if (exists() || !std::filesystem::is_directory(data, ec)) return "";
  return data;
}

std::vector<std::string> ProfileClient::namesWithKeptData(const std::string& home) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(home, ec)) {
    const std::string name = entry.path().filename().string();
    if (!vm::ProfilePaths::isValidName(name)) continue;
    if (!ProfileClient(vm::ProfilePaths::forProfile(name, home)).keptData().empty())
      names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

vm::ProfileConfig ProfileClient::loadConfig(bool with_profile_file) const {
  vm::ProfileConfig config = vm::ProfileConfig::defaults();
  config.mergeFile(vm::ProfilePaths::templateFile(paths_.home_dir));
  if (with_profile_file) config.mergeFile(paths_.config_file);
  return config;
}

std::optional<nlohmann::json> ProfileClient::status(milliseconds timeout) const {
  auto reply = net::HttpClient::unixSocket(paths_.control_socket).get("/status", timeout);
  if (reply.status != 200) return std::nullopt;
  try {
    return nlohmann::json::parse(reply.body);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void ProfileClient::requestBoot() const {
  auto reply = net::HttpClient::unixSocket(paths_.control_socket).post("/boot", seconds(10));
  if (reply.status != 202) {
    throw std::runtime_error(
        "the daemon of profile '" + paths_.name + "' did not accept the boot " + "request" +
        (reply.error.empty() ? "" : ": " + reply.error) + " (see " + paths_.log_file + ")");
  }
}

int ProfileClient::daemonPid() const {
  std::ifstream in(paths_.pid_file);
  int pid = 0;
  in >> pid;
  return processAlive(pid) ? pid : 0;
}

void ProfileClient::stopDaemon(bool force) const {
  const int pid = daemonPid();
  auto reply = net::HttpClient::unixSocket(paths_.control_socket)
                   .post(force ? "/stop?force=1" : "/stop", seconds(120));
  const auto deadline = Clock::now() + seconds(reply.status == 200 ? 15 : 5);
  while (pid != 0 && processAlive(pid) && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  if (pid != 0 && processAlive(pid)) {
    // It did not stop by itself: a signal stops the guest too; SIGKILL as the last resort.
    ::kill(pid, force ? SIGKILL : SIGTERM);
    const auto kill_deadline = Clock::now() + seconds(force ? 5 : 40);
    while (processAlive(pid) && Clock::now() < kill_deadline)
      std::this_thread::sleep_for(milliseconds(50));
    if (processAlive(pid)) ::kill(pid, SIGKILL);
  }
  cleanStale();
}

std::string ProfileClient::cleanStale() const {
  // The daemon holds an flock on daemon.lock while it lives: if we can take it, none runs.
  int fd = ::open(paths_.lock_file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return "";
  const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  std::string cleaned;
  if (free) {
    std::ifstream in(paths_.pid_file);
    std::string pid;
    in >> pid;
    for (const auto& path : {paths_.pid_file, paths_.docker_socket, paths_.control_socket}) {
      if (::unlink(path.c_str()) == 0) {
        cleaned += (cleaned.empty() ? "" : ", ") + std::filesystem::path(path).filename().string();
      }
    }
    if (!cleaned.empty()) {
      cleaned = "cleaned up after a daemon that did not exit cleanly" +
                (pid.empty() ? "" : " (pid " + pid + ")") + ": removed " + cleaned;
    }
  }
  ::close(fd);
  return cleaned;
}

void ProfileClient::launchDaemon() const {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the berth executable: " + ec.message());
  const std::string exe = self.string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, paths_.log_file.c_str(),
                                   O_WRONLY | O_APPEND | O_CREAT, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);  // outlives this terminal
  std::vector<std::string> args = {exe, "daemon", "--profile", paths_.name};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // BERTH_HOME must reach the daemon as resolved here.
  ::setenv("BERTH_HOME", paths_.home_dir.c_str(), 1);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, exe.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0)
    throw std::runtime_error("cannot start the daemon: " + std::string(std::strerror(rc)));

  const auto deadline = Clock::now() + seconds(15);
  while (Clock::now() < deadline) {
    int wstatus = 0;
    if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
      throw std::runtime_error("the daemon of profile '" + paths_.name + "' exited at once: " +
                               lastError(paths_.log_file) + " (see " + paths_.log_file + ")");
    }
    if (status(milliseconds(500))) return;
    std::this_thread::sleep_for(milliseconds(50));
  }
  throw std::runtime_error("the daemon of profile '" + paths_.name +
                           "' did not answer within 15s (see " + paths_.log_file + ")");
}

}  // namespace berth::cli
