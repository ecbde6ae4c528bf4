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

#include "server/net/ChildProcess.h"
#include "server/net/Files.h"
#include "server/net/Log.h"
#include "vm/EngineProbe.h"
#include "vm/NsGuestInit.h"

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
    std::string stat = net::Files::readOr("/proc/" + std::to_string(pid) + "/stat");
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
    std::string cmdline = net::Files::readOr(proc + "/cmdline");
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

std::string findDockerd() {
  if (const char* env = std::getenv("BERTH_DOCKERD"); env != nullptr && *env != '\0') return env;
  for (const char* candidate :
       {"/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/local/bin/dockerd"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  throw DriverError(
      "dockerd not found: install it (apt-get install docker.io) or set BERTH_DOCKERD");
}

}  // namespace

std::string NsDriver::hostEngineVersion() const {
  // "Docker version 20.10.24+dfsg1, build 5d6db84" -> "20.10.24+dfsg1" (as GET /version says).
  const std::string dockerd = findDockerd();
  const auto result = net::ChildProcess::run({dockerd, "--version"});
  const std::string& out = result.output;
  const auto at = out.find("version ");
  if (result.exit_code != 0 || at == std::string::npos)
    throw DriverError(dockerd + " --version did not say its version: " + out);
  const auto begin = at + 8;
  return out.substr(begin, out.find_first_of(", \n", begin) - begin);
}

namespace {

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
  std::string subnet = net::Files::readOr(paths.state_dir + "/subnet");
  while (!subnet.empty() && (subnet.back() == '\n' || subnet.back() == ' ')) subnet.pop_back();
  return subnet;
}

bool subnetInUse(const std::string& subnet, const std::string& own_interface) {
  net::RunResult r = net::ChildProcess::run({"ip", "-4", "-o", "addr", "show"});
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

std::shared_ptr<net::ChildProcess> NsDriver::dockerdProcess() const {
  std::lock_guard lock(mutex_);
  return dockerd_;
}

std::string NsDriver::exitOf(net::ChildProcess& dockerd) {
  auto status = dockerd.wait(milliseconds(0));
  return status ? "dockerd " + status->describe() : "";
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
    auto dockerd = spawnDockerd();
    std::lock_guard lock(mutex_);
    dockerd_pid_ = dockerd->pid();
    dockerd_ = std::move(dockerd);
  }
  if (!waitUntilAnswering(*dockerdProcess(), kBootLimit, progress)) {
    std::string why = exitOf(*dockerdProcess());
    if (why.empty()) {
      why = "dockerd did not answer within " + std::to_string(kBootLimit.count()) + "s";
    }
    std::string tail = net::Files::readOr(paths_.state_dir + "/dockerd.log");
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
  auto dockerd = net::ChildProcess::adopt(paths_.state_dir + "/dockerd.pid", "dockerd");
  const std::string netns_path = "/var/run/netns/" + netns_;
  if (!dockerd) return false;
  const int pid = dockerd->pid();
  const ino_t netns_inode = inodeOf(netns_path);
  if (netns_inode == 0 || inodeOf("/proc/" + std::to_string(pid) + "/ns/net") != netns_inode) {
    return false;
  }
  const std::string subnet = recordedSubnet(paths_);
  if (subnet.empty()) return false;
  std::lock_guard lock(mutex_);
  dockerd_pid_ = pid;
  dockerd_ = std::make_shared<net::ChildProcess>(std::move(*dockerd));
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
  const bool stale_link = net::ChildProcess::run({"ip", "link", "show", veth_host_}).exit_code == 0;
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
  net::ChildProcess::check({"ip", "netns", "add", netns_}, what);
  try {
    net::ChildProcess::check(
        {"ip", "link", "add", veth_host_, "type", "veth", "peer", "name", veth_guest_}, what);
    net::ChildProcess::check({"ip", "link", "set", veth_guest_, "netns", netns_}, what);
    net::ChildProcess::check({"ip", "addr", "add", subnet + ".1/24", "dev", veth_host_}, what);
    net::ChildProcess::check({"ip", "link", "set", veth_host_, "up"}, what);
    net::ChildProcess::check({"ip", "-n", netns_, "link", "set", "lo", "up"}, what);
    net::ChildProcess::check({"ip", "-n", netns_, "link", "set", veth_guest_, "name", "eth0"},
                             what);
    net::ChildProcess::check({"ip", "-n", netns_, "addr", "add", subnet + ".2/24", "dev", "eth0"},
                             what);
    net::ChildProcess::check({"ip", "-n", netns_, "link", "set", "eth0", "up"}, what);
    net::ChildProcess::check({"ip", "-n", netns_, "route", "add", "default", "via", subnet + ".1"},
                             what);
  } catch (...) {
    deleteNetwork();
    throw;
  }
  net::Files::writeAtomic(paths_.state_dir + "/subnet", subnet + "\n");
  std::lock_guard guard(mutex_);
  subnet_ = subnet;
}

void NsDriver::deleteNetwork() {
  net::ChildProcess::run({"ip", "link", "del", veth_host_});
  net::ChildProcess::run({"ip", "netns", "del", netns_});
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
    net::Files::writeAtomic(resolv, text);
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
  net::Files::writeAtomic(paths_.state_dir + "/daemon.json", daemon.dump(2) + "\n");

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
  net::Files::writeAtomic(paths_.state_dir + "/guest.json", guest.dump(2) + "\n", 0600);
}

std::shared_ptr<net::ChildProcess> NsDriver::spawnDockerd() {
  const std::string log = paths_.state_dir + "/dockerd.log";
  // dockerd refuses to start while its pid file names a process that exists, and a killed
  // dockerd whose parent is gone may linger as a zombie that nobody reaps.
  // The same holds for the containerd that dockerd starts: with a stale pid file it waits
  // for a dead containerd instead of starting one.
  const std::string pid_file = paths_.state_dir + "/dockerd.pid";
  if (!net::ChildProcess::adopt(pid_file, "dockerd")) ::unlink(pid_file.c_str());
  const std::string containerd_pid_file = exec_root_ + "/containerd/containerd.pid";
  if (!net::ChildProcess::adopt(containerd_pid_file, "containerd")) {
    ::unlink(containerd_pid_file.c_str());
  }
  net::SpawnOptions spawn;
  spawn.argv = {net::ChildProcess::selfExecutable(), "ns-init", paths_.state_dir + "/guest.json"};
  spawn.env = config_.env;  // dockerd's environment: ours, with the profile's env on top
  spawn.output = log;
  // Its own session: a Ctrl-C on `berth start --foreground` or the daemon's death must not
  // take dockerd (and the containers) with it.
  spawn.new_session = true;
  auto dockerd = std::make_shared<net::ChildProcess>(net::ChildProcess::spawn(spawn));
  BERTH_LOG(Info, "ns",
            "dockerd pid " << dockerd->pid() << " starting in " << netns_ << ", log " << log);
  return dockerd;
}

bool NsDriver::waitUntilAnswering(net::ChildProcess& dockerd, milliseconds limit,
                                  const ProgressSink& progress) {
  const auto start = Clock::now();
  auto next_report = start + seconds(2);
  // Between pings: not stopping, dockerd still alive; a progress line every 2 s.
  const auto keep_waiting = [&] {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
    }
    if (!dockerd.running()) return false;
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
    const auto dockerd = dockerdProcess();
    // Wait for dockerd to exit, or for stop(). Its pidfd also works for an adopted dockerd,
    // which is not our child.
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      if (dockerd->wait(milliseconds(200))) break;
    }
    const std::string why = exitOf(*dockerd);
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
    std::shared_ptr<net::ChildProcess> next;
    started = Clock::now();
    try {
      next = spawnDockerd();
    } catch (const std::exception& e) {
      BERTH_LOG(Error, "ns", e.what());
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      dockerd_pid_ = next->pid();
      dockerd_ = next;
    }
    if (waitUntilAnswering(*next, kBootLimit, nullptr)) {
      setStatus(GuestState::Running,
                "dockerd pid " + std::to_string(next->pid()) + " (restarted after: " + why + ")");
      BERTH_LOG(Info, "ns", "dockerd restarted, pid " << next->pid());
    } else if (next->running()) {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      next->signal(SIGKILL);
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

void NsDriver::disableLiveRestore(net::ChildProcess& dockerd) {
  const std::string file = paths_.state_dir + "/daemon.json";
  nlohmann::json daemon;
  try {
    daemon = nlohmann::json::parse(net::Files::readOr(file));
  } catch (const std::exception&) {
    return;  // not berth's file: leave dockerd as it is
  }
  if (!daemon.value("live-restore", false)) return;
  daemon["live-restore"] = false;
  net::Files::writeAtomic(file, daemon.dump(2) + "\n");
  dockerd.signal(SIGHUP);
  const auto off = [](const net::HttpResponse& reply) {
    try {
      return reply.status == 200 &&
             !nlohmann::json::parse(reply.body).value("LiveRestoreEnabled", true);
    } catch (const std::exception&) {
      return false;
    }
  };
  net::HttpClient::Wait wait{Clock::now() + kReloadLimit};
  wait.keep_waiting = [&dockerd] { return dockerd.running(); };
  if (EngineProbe(engine()).http().waitUntil("/info", off, wait)) return;
  BERTH_LOG(Warn, "ns", "dockerd did not turn live-restore off; its containers are killed");
}

void NsDriver::shutdownEngine(net::ChildProcess& dockerd) {
  nlohmann::json daemon;
  try {
    daemon = nlohmann::json::parse(net::Files::readOr(paths_.state_dir + "/daemon.json"));
  } catch (const std::exception&) {
    daemon = nlohmann::json::object();
  }
  int shutdown_timeout = kShutdownTimeout;
  try {
    shutdown_timeout = daemon.value("shutdown-timeout", kShutdownTimeout);
  } catch (const std::exception&) {
  }
  const int limit = shutdownSeconds(shutdown_timeout);
  disableLiveRestore(dockerd);
  BERTH_LOG(Info, "ns", "shutting dockerd down (its containers get their stop timeouts)");
  dockerd.signal(SIGTERM);
  const auto wait = limit < 0 ? std::chrono::hours(24) : seconds(limit + 10);
  if (!dockerd.wait(std::chrono::duration_cast<milliseconds>(wait))) {
    BERTH_LOG(Warn, "ns", "dockerd did not shut down within " << limit + 10 << "s; killing it");
  }
}

void NsDriver::killGuestProcesses(bool force) {
  auto dockerd = dockerdProcess();
  if (!dockerd) {
    if (auto found = net::ChildProcess::adopt(paths_.state_dir + "/dockerd.pid", "dockerd")) {
      dockerd = std::make_shared<net::ChildProcess>(std::move(*found));
    }
  }
  if (dockerd && dockerd->running()) {
    if (!force) shutdownEngine(*dockerd);
    dockerd->stop(milliseconds(0), SIGKILL);
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
  std::istringstream lines(net::Files::readOr(list));
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
    dockerd_.reset();
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
  auto dockerd = net::ChildProcess::adopt(paths.state_dir + "/dockerd.pid", "dockerd");
  return dockerd ? dockerd->pid() : 0;
}

std::vector<std::string> NsDriver::shellArgv(const std::vector<std::string>& command,
                                             bool /*tty*/) const {
  const ProfilePaths& paths = paths_;
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
