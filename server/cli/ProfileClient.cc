#include "server/cli/ProfileClient.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "server/net/ChildProcess.h"
#include "server/net/HttpClient.h"

namespace berth::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The profile's daemon according to daemon.pid: alive, not a zombie, and running berth (a pid
// recycled by another program after a crash is not our daemon).
std::optional<net::ChildProcess> liveDaemon(const std::string& pid_file) {
  return net::ChildProcess::adopt(pid_file, net::ChildProcess::selfExecutable());
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

void ProfileClient::requireExists(const std::string& start_flags) const {
  if (exists()) return;
  throw std::runtime_error("profile '" + paths_.name +
                           "' does not exist (berth list shows the profiles; " + command("start") +
                           start_flags + " creates it)");
}

std::string ProfileClient::keptData() const {
  // What `berth delete` keeps: the driver state's data folder (StopCommand's deleteProfile).
  std::string data = paths_.state_dir + "/data";
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

void ProfileClient::bootIfDown() const {
  constexpr auto kBootLimit = std::chrono::minutes(3);
  auto current = status();
  if (!current || (*current)["boot"].value("state", "") == "up") return;
  requestBoot();
  const auto deadline = Clock::now() + kBootLimit;
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(200));
    current = status();
    if (!current) break;
    const auto& boot = (*current)["boot"];
    const std::string state = boot.value("state", "");
    if (state == "up") return;
    if (state == "down" && !boot.value("lastError", std::string()).empty()) {
      throw std::runtime_error("the guest of profile '" + paths_.name +
                               "' failed to boot: " + boot["lastError"].get<std::string>());
    }
  }
  throw std::runtime_error("the guest of profile '" + paths_.name + "' did not come up (see " +
                           paths_.log_file + ")");
}

bool ProfileClient::holdWhileRunning(int pid) const {
  const auto reply = net::HttpClient::unixSocket(paths_.control_socket)
                         .post("/hold?pid=" + std::to_string(pid), seconds(5));
  return reply.status == 200;
}

int ProfileClient::daemonPid() const {
  auto daemon = liveDaemon(paths_.pid_file);
  return daemon ? daemon->pid() : 0;
}

void ProfileClient::stopDaemon(bool force) const {
  auto daemon = liveDaemon(paths_.pid_file);
  auto reply = net::HttpClient::unixSocket(paths_.control_socket)
                   .post(force ? "/stop?force=1" : "/stop", seconds(120));
  if (daemon && !daemon->wait(seconds(reply.status == 200 ? 15 : 5))) {
    // It did not stop by itself: a signal stops the guest too; SIGKILL as the last resort.
    if (force) {
      daemon->stop(seconds(5), SIGKILL);
    } else {
      daemon->stop(seconds(40));
    }
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
  net::SpawnOptions spawn;
  spawn.argv = {net::ChildProcess::selfExecutable(), "daemon", "--profile", paths_.name};
  spawn.env = {{"BERTH_HOME", paths_.home_dir}};  // the daemon's home as resolved here
  spawn.output = paths_.log_file;
  spawn.new_session = true;  // outlives this terminal
  auto daemon = net::ChildProcess::spawn(spawn);

  net::HttpClient::Wait wait;
  wait.deadline = Clock::now() + seconds(15);
  wait.interval = milliseconds(50);
  wait.attempt = milliseconds(500);
  wait.keep_waiting = [&] {
    if (daemon.running()) return true;
    throw std::runtime_error("the daemon of profile '" + paths_.name + "' exited at once: " +
                             lastError(paths_.log_file) + " (see " + paths_.log_file + ")");
  };
  const auto answers = [](const net::HttpResponse& reply) { return reply.status == 200; };
  if (net::HttpClient::unixSocket(paths_.control_socket).waitUntil("/status", answers, wait)) {
    return;
  }
  throw std::runtime_error("the daemon of profile '" + paths_.name +
                           "' did not answer within 15s (see " + paths_.log_file + ")");
}

}  // namespace berth::cli
