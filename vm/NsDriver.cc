#include "vm/NsDriver.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "server/net/Log.h"
#include "vm/EngineProbe.h"
#include "vm/NsGuestInit.h"
#include "vm/Subprocess.h"

extern char** environ;

namespace berth::vm {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kSubnetPrefix = "172.30.";  // the relay harness uses 10.x: no overlap
constexpr int kMaxRestarts = 5;                   // consecutive failed restarts before Broken
constexpr auto kStableRun = seconds(60);          // a run this long resets the restart count
constexpr auto kBootLimit = seconds(90);          // dockerd must answer within this
constexpr int kDefaultStopTimeout = 10;           // seconds: docker's own default
constexpr int kShutdownTimeout = 15;              // seconds: dockerd's default shutdown-timeout
constexpr auto kReloadLimit = seconds(5);         // dockerd applies a SIGHUP'd daemon.json in this

std::uint32_t fnv1a(const std::string& text) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  return h;
}

std::string hex8(std::uint32_t v) {
  char buffer[9];
  std::snprintf(buffer, sizeof buffer, "%08x", v);
  return buffer;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeFile(const std::string& path, const std::string& text, mode_t mode = 0644) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) throw DriverError("cannot write " + tmp + ": " + std::strerror(errno));
  }
  ::chmod(tmp.c_str(), mode);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw DriverError("cannot write " + path + ": " + std::strerror(errno));
  }
}

int readPid(const std::string& path) {
  std::ifstream in(path);
  int pid = 0;
  in >> pid;
  return pid > 0 ? pid : 0;
}

bool alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// True when `pid` is a live process named `name` (not a zombie, not a recycled pid).
bool isLive(int pid, const std::string& name) {
  if (!alive(pid)) return false;
  std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] == 'Z')
    return false;
  std::string comm = readFile("/proc/" + std::to_string(pid) + "/comm");
  return comm.rfind(name, 0) == 0;
}

bool isDockerd(int pid) { return isLive(pid, "dockerd"); }

ino_t inodeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Every live pid on the host with its parent pid.
std::map<int, int> processParents() {
  std::map<int, int> parents;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return parents;
  while (dirent* entry = ::readdir(dir)) {
    int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2) parents[pid] = ppid;
  }
  ::closedir(dir);
  return parents;
}

// The guest's processes: those in its network namespace, those whose command line names its
// data or exec root (dockerd, containerd, shims), and all their descendants (the containers).
std::set<int> guestProcesses(ino_t netns_inode, const std::string& state_dir,
                             const std::string& exec_root) {
  const auto parents = processParents();
  std::set<int> found;
  const int self = ::getpid();
  for (const auto& [pid, ppid] : parents) {
    if (pid == self) continue;
    const std::string proc = "/proc/" + std::to_string(pid);
    if (netns_inode != 0 && inodeOf(proc + "/ns/net") == netns_inode) {
      found.insert(pid);
      continue;
    }
    std::string cmdline = readFile(proc + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(exec_root) != std::string::npos ||
        cmdline.find(state_dir + "/data") != std::string::npos) {
      found.insert(pid);
    }
  }
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [pid, ppid] : parents) {
      if (pid != self && !found.count(pid) && found.count(ppid)) {
        found.insert(pid);
        grew = true;
      }
    }
  }
  return found;
}

void reap(int pid) {
  int status = 0;
  ::waitpid(pid, &status, WNOHANG);
}

std::string describeExit(int pid) {
  int status = 0;
  pid_t got = ::waitpid(pid, &status, WNOHANG);
  if (got == pid) {
    if (WIFEXITED(status))
      return "dockerd exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
      return std::string("dockerd was killed by signal ") + std::to_string(WTERMSIG(status));
  }
  return "dockerd exited";
}

int pidfdOpen(int pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Waits until `pid` is gone or `limit` passes; true when it is gone.
bool waitGone(int pid, milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    reap(pid);
    if (!alive(pid)) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  reap(pid);
  return !alive(pid);
}

std::string berthExecutable() {
  std::error_code ec;
  std::string path = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) throw DriverError("cannot find the berth executable: " + ec.message());
  // Replaced on disk since this daemon started (an upgrade): run the new one.
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() && path.ends_with(kDeleted)) {
    path.resize(path.size() - kDeleted.size());
  }
  return path;
}

std::string findDockerd() {
  if (const char* env = std::getenv("BERTH_DOCKERD"); env != nullptr && *env != '\0') return env;
  for (const char* candidate :
       {"/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/local/bin/dockerd"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  throw DriverError(
      "dockerd not found: install it (apt-get install docker.io) or set BERTH_DOCKERD");
}

// Holds the host-wide lock under which a profile picks and claims its /24.
class SubnetLock {
 public:
  SubnetLock() {
    ::mkdir("/run/berth", 0700);
    fd_ = ::open("/run/berth/subnets.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~SubnetLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  SubnetLock(const SubnetLock&) = delete;
  SubnetLock& operator=(const SubnetLock&) = delete;

 private:
  int fd_ = -1;
};

// The /24 the profile's guest last had ("172.30.N"), or "".
std::string recordedSubnet(const ProfilePaths& paths) {
  std::string subnet = readFile(paths.state_dir + "/subnet");
  while (!subnet.empty() && (subnet.back() == '\n' || subnet.back() == ' ')) subnet.pop_back();
  return subnet;
}

bool subnetInUse(const std::string& subnet, const std::string& own_interface) {
  SubprocessResult r = Subprocess::run({"ip", "-4", "-o", "addr", "show"});
  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find(" " + subnet + ".") != std::string::npos &&
        line.find(" " + own_interface + " ") == std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

NsDriver::NsDriver(ProfileConfig config, ProfilePaths paths)
    : config_(std::move(config)), paths_(std::move(paths)), cgroup_(guestId(paths_)) {
  shares_ = config_.effectiveMounts();
  const std::string id = hex8(fnv1a(paths_.dir));
  netns_ = guestId(paths_);
  veth_host_ = "bph" + id;
  veth_guest_ = "bpg" + id;
  engine_socket_ = paths_.engine_socket;
  // Runtime state (containerd's sockets among it) on a short path: a deep BERTH_HOME must not
  // push containerd's socket paths past the 107-byte limit. Gone after a host reboot, as it
  // should be.
  exec_root_ = "/run/berth/" + id + "/exec";
}

NsDriver::~NsDriver() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
}

GuestStatus NsDriver::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void NsDriver::setStatus(GuestState state, std::string detail) {
  std::lock_guard lock(mutex_);
  status_.state = state;
  status_.detail = std::move(detail);
}

int NsDriver::dockerdPid() const {
  std::lock_guard lock(mutex_);
  return dockerd_pid_;
}

EngineEndpoint NsDriver::engine() const {
  EngineEndpoint endpoint;
  endpoint.kind = EngineEndpoint::Kind::Unix;
  endpoint.unix_path = engine_socket_;
  return endpoint;
}

std::string NsDriver::guestAddress() const {
  std::lock_guard lock(mutex_);
  return subnet_.empty() ? "" : subnet_ + ".2";
}

void NsDriver::start(const ProgressSink& progress) {
  if (::geteuid() != 0) {
    throw DriverError(
        "the ns driver needs root (network and mount namespaces); run berth as root "
        "or use --vm-type qemu");
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  if (supervisor_.joinable()) supervisor_.join();
  setStatus(GuestState::Starting, "starting dockerd");
  std::filesystem::create_directories(paths_.state_dir);
  ::chmod(paths_.state_dir.c_str(), 0700);

  if (adoptRunningDockerd()) {
    progress("found dockerd still running (pid " + std::to_string(dockerdPid()) +
             ") from an earlier daemon; reusing it");
  } else {
    if (adoptGuest()) {
      progress("found the guest of an earlier daemon still running; restarting its dockerd");
    } else {
      cleanupLeftovers();
      cgroup_.apply(config_.cpus, config_.memory);
      createNetwork(progress);
      progress("starting dockerd in network namespace " + netns_ + " (guest address " +
               guestAddress() + ")");
    }
    writeGuestFiles();
    int pid = spawnDockerd();
    std::lock_guard lock(mutex_);
    dockerd_pid_ = pid;
  }
  if (!waitUntilAnswering(dockerdPid(), kBootLimit, progress)) {
    std::string why = alive(dockerdPid()) ? "dockerd did not answer within " +
                                                std::to_string(kBootLimit.count()) + "s"
                                          : describeExit(dockerdPid());
    std::string tail = readFile(paths_.state_dir + "/dockerd.log");
    if (tail.size() > 600) tail = tail.substr(tail.size() - 600);
    BERTH_LOG(Error, "ns", why << "; last lines of dockerd.log:\n" << tail);
    try {
      stop(true);
    } catch (const std::exception& e) {
      BERTH_LOG(Warn, "ns", "cleanup after the failed start: " << e.what());
    }
    setStatus(GuestState::Broken, why);
    throw DriverError(why + " (see " + paths_.state_dir + "/dockerd.log)");
  }
  setStatus(GuestState::Running, "dockerd pid " + std::to_string(dockerdPid()));
  progress("dockerd answers on " + engine_socket_);
  supervisor_ = std::thread([this] { supervise(); });
}

bool NsDriver::adoptRunningDockerd() {
  const int pid = readPid(paths_.state_dir + "/dockerd.pid");
  const std::string netns_path = "/var/run/netns/" + netns_;
  if (pid == 0 || !isDockerd(pid)) return false;
  const ino_t netns_inode = inodeOf(netns_path);
  if (netns_inode == 0 || inodeOf("/proc/" + std::to_string(pid) + "/ns/net") != netns_inode) {
    return false;
  }
  const std::string subnet = recordedSubnet(paths_);
  if (subnet.empty()) return false;
  std::lock_guard lock(mutex_);
  dockerd_pid_ = pid;
  subnet_ = subnet;
  BERTH_LOG(Info, "ns", "adopting dockerd pid " << pid << " in " << netns_);
  return true;
}

bool NsDriver::adoptGuest() {
  if (NsGuestInit::holderPid(paths_.state_dir + "/holder.pid", "/var/run/netns/" + netns_) == 0)
    return false;
  const std::string subnet = recordedSubnet(paths_);
  if (subnet.empty()) return false;
  std::lock_guard lock(mutex_);
  subnet_ = subnet;
  BERTH_LOG(Info, "ns", "adopting the guest's namespaces in " << netns_ << " (dockerd is gone)");
  return true;
}

void NsDriver::cleanupLeftovers() {
  const bool stale_netns = std::filesystem::exists("/var/run/netns/" + netns_);
  const bool stale_link = Subprocess::run({"ip", "link", "show", veth_host_}).exit_code == 0;
  const auto leftovers = guestProcesses(stale_netns ? inodeOf("/var/run/netns/" + netns_) : 0,
                                        paths_.state_dir, exec_root_);
  if (!stale_netns && !stale_link && leftovers.empty()) return;
  BERTH_LOG(Warn, "ns",
            "cleaning up what a crashed run left behind ("
                << leftovers.size() << " process(es), netns " << (stale_netns ? "yes" : "no")
                << ")");
  killGuestProcesses(true);
  deleteNetwork();
}

std::string NsDriver::allocateSubnet() {
  if (!config_.network.subnet.empty()) {
    const std::string& s = config_.network.subnet;
    auto slash = s.find('/');
    std::string base = s.substr(0, slash);
    if (slash == std::string::npos || s.substr(slash) != "/24" ||
        std::count(base.begin(), base.end(), '.') != 3 || base.substr(base.rfind('.')) != ".0") {
      throw DriverError("network.subnet '" + s + "' must be a /24 such as 172.30.9.0/24");
    }
    std::string prefix = base.substr(0, base.rfind('.'));
    if (subnetInUse(prefix, veth_host_)) {
      throw DriverError("network.subnet " + s +
                        " is already used by another interface; "
                        "choose another in berth.yaml");
    }
    return prefix;
  }
  const std::string recorded = recordedSubnet(paths_);
  if (!recorded.empty() && !subnetInUse(recorded, veth_host_)) return recorded;
  const unsigned first = fnv1a(paths_.dir) % 256;
  for (unsigned i = 0; i < 256; ++i) {
    std::string candidate = kSubnetPrefix + std::to_string((first + i) % 256);
    if (!subnetInUse(candidate, veth_host_)) return candidate;
  }
  throw DriverError("no free /24 left in 172.30.0.0/16 for the ns driver; stop other profiles");
}

void NsDriver::createNetwork(const ProgressSink& progress) {
  progress("creating network namespace " + netns_);
  SubnetLock lock;  // held until the host end has its address: others then see it in use
  const std::string subnet = allocateSubnet();
  const std::string what = "cannot create the guest network";
  Subprocess::check({"ip", "netns", "add", netns_}, what);
  try {
    Subprocess::check(
        {"ip", "link", "add", veth_host_, "type", "veth", "peer", "name", veth_guest_}, what);
    Subprocess::check({"ip", "link", "set", veth_guest_, "netns", netns_}, what);
    Subprocess::check({"ip", "addr", "add", subnet + ".1/24", "dev", veth_host_}, what);
    Subprocess::check({"ip", "link", "set", veth_host_, "up"}, what);
    Subprocess::check({"ip", "-n", netns_, "link", "set", "lo", "up"}, what);
    Subprocess::check({"ip", "-n", netns_, "link", "set", veth_guest_, "name", "eth0"}, what);
    Subprocess::check({"ip", "-n", netns_, "addr", "add", subnet + ".2/24", "dev", "eth0"}, what);
    Subprocess::check({"ip", "-n", netns_, "link", "set", "eth0", "up"}, what);
    Subprocess::check({"ip", "-n", netns_, "route", "add", "default", "via", subnet + ".1"}, what);
  } catch (...) {
    deleteNetwork();
    throw;
  }
  writeFile(paths_.state_dir + "/subnet", subnet + "\n");
  std::lock_guard guard(mutex_);
  subnet_ = subnet;
}

void NsDriver::deleteNetwork() {
  Subprocess::run({"ip", "link", "del", veth_host_});
  Subprocess::run({"ip", "netns", "del", netns_});
}

void NsDriver::writeGuestFiles() {
  // daemon.json is the profile's `docker:` map, minus what berth itself must own.
  nlohmann::json daemon = config_.docker.is_object() ? config_.docker : nlohmann::json::object();
  for (const char* owned : {"data-root", "exec-root", "pidfile", "hosts", "cgroup-parent"}) {
    if (daemon.erase(owned) > 0) {
      BERTH_LOG(Warn, "ns", "docker." << owned << " in berth.yaml is ignored: berth sets it");
    }
  }

  std::string resolv;
  if (!config_.network.dns.empty()) {
    std::string text = "# written by berth from network.dns\n";
    for (const auto& ip : config_.network.dns) text += "nameserver " + ip + "\n";
    resolv = paths_.state_dir + "/resolv.conf";
    writeFile(resolv, text);
  }

  std::vector<std::string> argv = {findDockerd(),
                                   "--config-file",
                                   paths_.state_dir + "/daemon.json",
                                   "--data-root",
                                   paths_.state_dir + "/data",
                                   "--exec-root",
                                   exec_root_,
                                   "--pidfile",
                                   paths_.state_dir + "/dockerd.pid",
                                   "-H",
                                   "unix://" + engine_socket_};
  if (!daemon.contains("userland-proxy")) argv.push_back("--userland-proxy=false");
  // Containers outlive a dockerd crash or restart (supervision). In the file, not a flag:
  // stop() turns it off with a reload (SIGHUP), which refuses keys also given as flags.
  if (!daemon.contains("live-restore")) daemon["live-restore"] = true;
  daemon["cgroup-parent"] = cgroup_.cgroupParent();  // containers count against the guest's limits
  writeFile(paths_.state_dir + "/daemon.json", daemon.dump(2) + "\n");

  nlohmann::json shares = nlohmann::json::array();
  for (const auto& share : shares_) {
    shares.push_back({{"location", share.location},
                      {"mountPoint", share.mount_point},
                      {"writable", share.writable}});
  }
  nlohmann::json guest = {{"netns", "/var/run/netns/" + netns_},
                          {"shares", shares},
                          {"resolvConf", resolv},
                          {"createdDirsFile", paths_.state_dir + "/created-dirs"},
                          {"holderPidFile", paths_.state_dir + "/holder.pid"},
                          {"cgroupProcs", cgroup_.procsFiles()},
                          {"argv", argv}};
  writeFile(paths_.state_dir + "/guest.json", guest.dump(2) + "\n", 0600);
}

int NsDriver::spawnDockerd() {
  const std::string log = paths_.state_dir + "/dockerd.log";
  // dockerd refuses to start while its pid file names a process that exists, and a killed
  // dockerd whose parent is gone may linger as a zombie that nobody reaps.
  // The same holds for the containerd that dockerd starts: with a stale pid file it waits
  // for a dead containerd instead of starting one.
  const std::string pid_file = paths_.state_dir + "/dockerd.pid";
  if (int old = readPid(pid_file); old != 0 && !isDockerd(old)) ::unlink(pid_file.c_str());
  const std::string containerd_pid_file = exec_root_ + "/containerd/containerd.pid";
  if (int old = readPid(containerd_pid_file); old != 0 && !isLive(old, "containerd")) {
    ::unlink(containerd_pid_file.c_str());
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Its own session: a Ctrl-C on `berth start --foreground` or the daemon's death must not
  // take dockerd (and the containers) with it.
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(&attributes, &all);

  // dockerd's environment: ours, with the profile's env on top.
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : config_.env) env[k] = v;
  std::vector<std::string> env_entries;
  for (const auto& [k, v] : env) env_entries.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_entries) envp.push_back(e.data());
  envp.push_back(nullptr);

  const std::string self = berthExecutable();
  std::vector<std::string> args = {self, "ns-init", paths_.state_dir + "/guest.json"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, self.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) throw DriverError("cannot start dockerd: " + std::string(std::strerror(rc)));
  BERTH_LOG(Info, "ns", "dockerd pid " << pid << " starting in " << netns_ << ", log " << log);
  return pid;
}

bool NsDriver::waitUntilAnswering(int pid, milliseconds limit, const ProgressSink& progress) {
  const auto start = Clock::now();
  auto next_report = start + seconds(2);
  // Between pings: not stopping, dockerd still alive; a progress line every 2 s.
  const auto keep_waiting = [&] {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
    }
    reap(pid);
    if (!alive(pid)) return false;
    if (Clock::now() >= next_report) {
      auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
      char line[160];
      std::snprintf(line, sizeof line, "waiting for dockerd to answer (%.1fs)", waited / 1000.0);
      if (progress) progress(line);
      next_report += seconds(2);
    }
    return true;
  };
  std::string error;
  return EngineProbe(engine()).waitUntilAnswering(start + limit, milliseconds(100), keep_waiting,
                                                  error);
}

void NsDriver::supervise() {
  int failures = 0;
  auto started = Clock::now();
  for (;;) {
    const int pid = dockerdPid();
    const int pidfd = pidfdOpen(pid);
    // Wait for dockerd to exit, or for stop(). The pidfd also works for an adopted dockerd,
    // which is not our child.
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) {
          if (pidfd >= 0) ::close(pidfd);
          return;
        }
      }
      if (pidfd < 0) {
        if (!isDockerd(pid)) break;
        std::this_thread::sleep_for(milliseconds(200));
        continue;
      }
      pollfd p{pidfd, POLLIN, 0};
      if (::poll(&p, 1, 200) > 0) break;
    }
    if (pidfd >= 0) ::close(pidfd);
    const std::string why = describeExit(pid);
    if (Clock::now() - started >= kStableRun) failures = 0;
    ++failures;
    if (failures > kMaxRestarts) {
      BERTH_LOG(Error, "ns", why << "; gave up after " << kMaxRestarts << " restarts");
      setStatus(GuestState::Broken, why + "; gave up after " + std::to_string(kMaxRestarts) +
                                        " restarts (see " + paths_.state_dir + "/dockerd.log)");
      return;
    }
    const auto backoff = milliseconds(500) * (1 << (failures - 1));  // 0.5s .. 8s
    BERTH_LOG(Warn, "ns",
              why << "; restarting in " << backoff.count() << "ms (attempt " << failures << "/"
                  << kMaxRestarts << ")");
    setStatus(GuestState::Starting, why + "; restarting (attempt " + std::to_string(failures) +
                                        "/" + std::to_string(kMaxRestarts) + ")");
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, backoff, [this] { return stopping_; })) return;
    }
    int next = 0;
    started = Clock::now();
    try {
      next = spawnDockerd();
    } catch (const std::exception& e) {
      BERTH_LOG(Error, "ns", e.what());
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      dockerd_pid_ = next;
    }
    if (waitUntilAnswering(next, kBootLimit, nullptr)) {
      setStatus(GuestState::Running,
                "dockerd pid " + std::to_string(next) + " (restarted after: " + why + ")");
      BERTH_LOG(Info, "ns", "dockerd restarted, pid " << next);
    } else if (alive(next)) {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      ::kill(next, SIGKILL);
    }
  }
}

int NsDriver::shutdownSeconds(int shutdown_timeout) const {
  int limit = shutdown_timeout;
  const EngineProbe probe(engine());
  auto reply = probe.http().get("/containers/json", seconds(10));
  if (reply.status != 200) return limit;
  try {
    for (const auto& c : nlohmann::json::parse(reply.body)) {
      auto inspect =
          probe.http().get("/containers/" + c.at("Id").get<std::string>() + "/json", seconds(10));
      if (inspect.status != 200) continue;
      const auto config = nlohmann::json::parse(inspect.body).value("Config", nlohmann::json());
      const int stop_timeout = config.value("StopTimeout", kDefaultStopTimeout);
      if (stop_timeout < 0) return -1;            // waits for ever, as dockerd itself does
      limit = std::max(limit, stop_timeout + 5);  // dockerd's own grace on top
    }
  } catch (const std::exception& e) {
    BERTH_LOG(Warn, "ns", "cannot read the containers' stop timeouts: " << e.what());
  }
  return limit;
}

void NsDriver::disableLiveRestore(int pid) {
  const std::string file = paths_.state_dir + "/daemon.json";
  nlohmann::json daemon;
  try {
    daemon = nlohmann::json::parse(readFile(file));
  } catch (const std::exception&) {
    return;  // not berth's file: leave dockerd as it is
  }
  if (!daemon.value("live-restore", false)) return;
  daemon["live-restore"] = false;
  writeFile(file, daemon.dump(2) + "\n");
  ::kill(pid, SIGHUP);
  const auto off = [](const net::HttpResponse& reply) {
    try {
      return reply.status == 200 &&
             !nlohmann::json::parse(reply.body).value("LiveRestoreEnabled", true);
    } catch (const std::exception&) {
      return false;
    }
  };
  net::HttpClient::Wait wait{Clock::now() + kReloadLimit};
  wait.keep_waiting = [pid] { return isDockerd(pid); };
  if (EngineProbe(engine()).http().waitUntil("/info", off, wait)) return;
  BERTH_LOG(Warn, "ns", "dockerd did not turn live-restore off; its containers are killed");
}

void NsDriver::shutdownEngine(int pid) {
  nlohmann::json daemon;
  try {
    daemon = nlohmann::json::parse(readFile(paths_.state_dir + "/daemon.json"));
  } catch (const std::exception&) {
    daemon = nlohmann::json::object();
  }
  int shutdown_timeout = kShutdownTimeout;
  try {
    shutdown_timeout = daemon.value("shutdown-timeout", kShutdownTimeout);
  } catch (const std::exception&) {
  }
  const int limit = shutdownSeconds(shutdown_timeout);
  disableLiveRestore(pid);
  BERTH_LOG(Info, "ns", "shutting dockerd down (its containers get their stop timeouts)");
  ::kill(pid, SIGTERM);
  const auto wait = limit < 0 ? std::chrono::hours(24) : seconds(limit + 10);
  if (!waitGone(pid, std::chrono::duration_cast<milliseconds>(wait))) {
    BERTH_LOG(Warn, "ns", "dockerd did not shut down within " << limit + 10 << "s; killing it");
  }
}

void NsDriver::killGuestProcesses(bool force) {
  const int pid = dockerdPid() != 0 ? dockerdPid() : readPid(paths_.state_dir + "/dockerd.pid");
  if (pid != 0 && isDockerd(pid)) {
    if (!force) shutdownEngine(pid);
    ::kill(pid, SIGKILL);
    waitGone(pid, seconds(5));
  }
  const ino_t netns_inode = inodeOf("/var/run/netns/" + netns_);
  auto rest = guestProcesses(netns_inode, paths_.state_dir, exec_root_);
  if (rest.empty()) return;
  BERTH_LOG(Info, "ns", "stopping " << rest.size() << " remaining guest process(es)");
  for (int p : rest) ::kill(p, force ? SIGKILL : SIGTERM);
  const auto deadline = Clock::now() + seconds(3);
  while (Clock::now() < deadline &&
         !guestProcesses(netns_inode, paths_.state_dir, exec_root_).empty()) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  for (int p : guestProcesses(netns_inode, paths_.state_dir, exec_root_)) ::kill(p, SIGKILL);
  const auto kill_deadline = Clock::now() + seconds(3);
  while (Clock::now() < kill_deadline &&
         !guestProcesses(netns_inode, paths_.state_dir, exec_root_).empty()) {
    std::this_thread::sleep_for(milliseconds(50));
  }
}

void NsDriver::removeCreatedMountPoints() {
  const std::string list = paths_.state_dir + "/created-dirs";
  std::istringstream lines(readFile(list));
  std::vector<std::string> dirs;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) dirs.push_back(line);
  }
  // Deepest first; rmdir only removes what is still empty (never user data).
  std::sort(dirs.begin(), dirs.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& d : dirs) ::rmdir(d.c_str());
  ::unlink(list.c_str());
}

void NsDriver::stop(bool force) {
  setStatus(GuestState::Stopping, force ? "killing dockerd" : "stopping dockerd");
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  killGuestProcesses(force);
  cgroup_.remove();
  deleteNetwork();
  removeCreatedMountPoints();
  ::unlink(engine_socket_.c_str());
  ::unlink((paths_.state_dir + "/dockerd.pid").c_str());
  ::unlink((paths_.state_dir + "/holder.pid").c_str());
  std::error_code ignored;
  std::filesystem::remove_all(std::filesystem::path(exec_root_).parent_path(), ignored);
  {
    std::lock_guard lock(mutex_);
    dockerd_pid_ = 0;
    subnet_.clear();
  }
  setStatus(GuestState::Stopped, "");
}

std::string NsDriver::guestId(const ProfilePaths& paths) {
  return "berth-" + hex8(fnv1a(paths.dir));
}

bool NsDriver::guestRunning(const ProfilePaths& paths) {
  return runningDockerd(paths) != 0 ||
         NsGuestInit::holderPid(paths.state_dir + "/holder.pid",
                                "/var/run/netns/" + guestId(paths)) != 0;
}

int NsDriver::runningDockerd(const ProfilePaths& paths) {
  const int pid = readPid(paths.state_dir + "/dockerd.pid");
  return pid != 0 && isDockerd(pid) ? pid : 0;
}

std::vector<std::string> NsDriver::shellCommand(const ProfilePaths& paths,
                                                const std::vector<std::string>& command) {
  int pid =
      NsGuestInit::holderPid(paths.state_dir + "/holder.pid", "/var/run/netns/" + guestId(paths));
  if (pid == 0) pid = runningDockerd(paths);
  if (pid == 0) {
    throw DriverError("profile '" + paths.name + "' is not running; start it first (berth start" +
                      (paths.name == ProfilePaths::kDefaultProfile ? "" : " " + paths.name) + ")");
  }
  std::vector<std::string> argv = {"nsenter", "-t", std::to_string(pid), "-m", "-n", "--"};
  if (command.empty()) {
    argv.push_back("/bin/sh");
  } else {
    argv.insert(argv.end(), command.begin(), command.end());
  }
  return argv;
}

}  // namespace berth::vm
