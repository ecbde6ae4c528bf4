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
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>

#include "api/Numbers.h"
#include "server/net/ChildProcess.h"
#include "server/net/Files.h"
#include "server/net/Log.h"
#include "vm/DockerRuntime.h"
#include "vm/MountsAnywhere.h"
#include "vm/NsGuestInit.h"

namespace berth::vm {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kSubnetPrefix = "172.30.";  // the relay harness uses 10.x: no overlap
constexpr int kMaxRestarts = 5;                   // consecutive failed restarts before Broken
constexpr auto kStableRun = seconds(60);          // a run this long resets the restart count
constexpr auto kBootLimit = seconds(90);          // the engine must answer within this
constexpr auto kProbeLimit = seconds(3);          // one readiness probe
constexpr auto kProbeInterval = milliseconds(100);

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
    const std::string_view name = entry->d_name;
    const auto pid = api::parseWhole<unsigned>(name);
    if (!pid || *pid == 0) continue;
    // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so from the last ')'.
    const std::string stat = net::Files::readOr("/proc/" + std::string(name) + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 5 > stat.size()) continue;
    const char* ppid_at = stat.data() + close + 4;  // past ") S "
    int ppid = 0;
    if (std::from_chars(ppid_at, stat.data() + stat.size(), ppid).ec == std::errc())
      parents[static_cast<int>(*pid)] = ppid;
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

}  // namespace

std::string NsDriver::hostEngineVersion() const {
  // "Docker version 20.10.24+dfsg1, build 5d6db84" -> "20.10.24+dfsg1" (as GET /version says).
  const std::string dockerd = DockerRuntime::dockerdPath();
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
    : config_(std::move(config)),
      paths_(std::move(paths)),
      runtime_(Runtime::make(config_.runtime)),
      cgroup_(guestId(paths_)) {
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

int NsDriver::enginePid() const {
  std::lock_guard lock(mutex_);
  return engine_pid_;
}

std::shared_ptr<net::ChildProcess> NsDriver::engineProcess() const {
  std::lock_guard lock(mutex_);
  return engine_process_;
}

std::string NsDriver::exitOf(net::ChildProcess& engine) const {
  auto status = engine.wait(milliseconds(0));
  return status ? runtime_->engineProgram() + " " + status->describe() : "";
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

NsEngineLayout NsDriver::layout() const {
  return NsEngineLayout{config_,
                        paths_,
                        engine_socket_,
                        exec_root_,
                        cgroup_.cgroupParent(),
                        enginePidFile(paths_, runtime_->engineProgram())};
}

std::string NsDriver::enginePidFile(const ProfilePaths& paths, const std::string& program) {
  return paths.state_dir + "/" + program + ".pid";
}

std::string NsDriver::engineLog() const {
  return paths_.state_dir + "/" + runtime_->engineProgram() + ".log";
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
  const std::string program = runtime_->engineProgram();
  setStatus(GuestState::Starting, "starting " + program);
  std::filesystem::create_directories(paths_.state_dir);
  ::chmod(paths_.state_dir.c_str(), 0700);

  if (adoptRunningEngine()) {
    progress("found " + program + " still running (pid " + std::to_string(enginePid()) +
             ") from an earlier daemon; reusing it");
  } else {
    if (adoptGuest()) {
      progress("found the guest of an earlier daemon still running; restarting its " + program);
    } else {
      cleanupLeftovers();
      cgroup_.apply(config_.cpus, config_.memory);
      createNetwork(progress);
      progress("starting " + program + " in network namespace " + netns_ + " (guest address " +
               guestAddress() + ")");
    }
    auto engine = spawnEngine();
    std::lock_guard lock(mutex_);
    engine_pid_ = engine->pid();
    engine_process_ = std::move(engine);
  }
  if (!waitUntilAnswering(*engineProcess(), kBootLimit, progress)) {
    std::string why = exitOf(*engineProcess());
    if (why.empty()) {
      why = program + " did not answer within " + std::to_string(kBootLimit.count()) + "s";
    }
    std::string tail = net::Files::readOr(engineLog());
    if (tail.size() > 600) tail = tail.substr(tail.size() - 600);
    BERTH_LOG(Error, "ns", why << "; last lines of " << program << ".log:\n" << tail);
    try {
      stop(true);
    } catch (const std::exception& e) {
      BERTH_LOG(Warn, "ns", "cleanup after the failed start: " << e.what());
    }
    setStatus(GuestState::Broken, why);
    throw DriverError(why + " (see " + engineLog() + ")");
  }
  setStatus(GuestState::Running, program + " pid " + std::to_string(enginePid()));
  progress(program + " answers on " + engine_socket_);
  supervisor_ = std::thread([this] { supervise(); });
}

bool NsDriver::adoptRunningEngine() {
  const std::string program = runtime_->engineProgram();
  auto engine = net::ChildProcess::adopt(enginePidFile(paths_, program), program);
  const std::string netns_path = "/var/run/netns/" + netns_;
  if (!engine) return false;
  const int pid = engine->pid();
  const ino_t netns_inode = inodeOf(netns_path);
  if (netns_inode == 0 || inodeOf("/proc/" + std::to_string(pid) + "/ns/net") != netns_inode) {
    return false;
  }
  const std::string subnet = recordedSubnet(paths_);
  if (subnet.empty()) return false;
  std::lock_guard lock(mutex_);
  engine_pid_ = pid;
  engine_process_ = std::make_shared<net::ChildProcess>(std::move(*engine));
  subnet_ = subnet;
  BERTH_LOG(Info, "ns", "adopting " << program << " pid " << pid << " in " << netns_);
  return true;
}

bool NsDriver::adoptGuest() {
  if (NsGuestInit::holderPid(paths_.state_dir + "/holder.pid", "/var/run/netns/" + netns_) == 0)
    return false;
  const std::string subnet = recordedSubnet(paths_);
  if (subnet.empty()) return false;
  std::lock_guard lock(mutex_);
  subnet_ = subnet;
  BERTH_LOG(Info, "ns",
            "adopting the guest's namespaces in " << netns_ << " (" << runtime_->engineProgram()
                                                  << " is gone)");
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
  std::string recorded = recordedSubnet(paths_);
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

void NsDriver::writeGuestFiles(const std::vector<std::string>& argv,
                               const std::vector<NsGuestBind>& binds) {
  std::string resolv;
  if (!config_.network.dns.empty()) {
    std::string text = "# written by berth from network.dns\n";
    for (const auto& ip : config_.network.dns) text += "nameserver " + ip + "\n";
    resolv = paths_.state_dir + "/resolv.conf";
    net::Files::writeAtomic(resolv, text);
  }
  nlohmann::json shares = nlohmann::json::array();
  for (const auto& share : shares_) {
    shares.push_back({{"location", share.location},
                      {"mountPoint", share.mount_point},
                      {"writable", share.writable}});
  }
  nlohmann::json private_dirs = nlohmann::json::array();
  for (const auto& bind : binds) {
    private_dirs.push_back({{"profileDir", bind.profile_dir}, {"guestPath", bind.guest_path}});
  }
  nlohmann::json guest = {{"netns", "/var/run/netns/" + netns_},
                          {"shares", shares},
                          {"privateDirs", private_dirs},
                          {"resolvConf", resolv},
                          {"createdDirsFile", paths_.state_dir + "/created-dirs"},
                          {"holderPidFile", paths_.state_dir + "/holder.pid"},
                          {"cgroupProcs", cgroup_.procsFiles()},
                          {"argv", argv}};
  if (!runtime_->writesOwnPidFile()) guest["pidFile"] = layout().pid_file;
  net::Files::writeAtomic(paths_.state_dir + "/guest.json", guest.dump(2) + "\n", 0600);
}

std::shared_ptr<net::ChildProcess> NsDriver::spawnEngine() {
  const NsEngineLayout engine_layout = layout();
  writeGuestFiles(runtime_->nsArgv(engine_layout), runtime_->nsBinds(engine_layout));
  const std::string log = engineLog();
  net::SpawnOptions spawn;
  spawn.argv = {net::ChildProcess::selfExecutable(), "ns-init", paths_.state_dir + "/guest.json"};
  spawn.env = config_.env;  // the engine's environment: ours, with the profile's env on top
  spawn.output = log;
  // Its own session: a Ctrl-C on `berth start --foreground` or the daemon's death must not
  // take the engine (and the containers) with it.
  spawn.new_session = true;
  auto engine = std::make_shared<net::ChildProcess>(net::ChildProcess::spawn(spawn));
  BERTH_LOG(Info, "ns",
            runtime_->engineProgram()
                << " pid " << engine->pid() << " starting in " << netns_ << ", log " << log);
  return engine;
}

bool NsDriver::waitUntilAnswering(net::ChildProcess& engine, milliseconds limit,
                                  const ProgressSink& progress) {
  const auto start = Clock::now();
  auto next_report = start + seconds(2);
  const EngineEndpoint endpoint = this->engine();
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
    }
    if (!engine.running()) return false;
    const auto now = Clock::now();
    if (now >= start + limit) return false;
    if (progress && now >= next_report) {
      auto waited = std::chrono::duration_cast<milliseconds>(now - start).count();
      char line[160];
      std::snprintf(line, sizeof line, "waiting for %s to answer (%.1fs)",
                    runtime_->engineProgram().c_str(), waited / 1000.0);
      progress(line);
      next_report += seconds(2);
    }
    std::string error;
    if (runtime_->answers(endpoint, kProbeLimit, error)) return true;
    std::this_thread::sleep_for(kProbeInterval);
  }
}

void NsDriver::supervise() {
  const std::string program = runtime_->engineProgram();
  int failures = 0;
  auto started = Clock::now();
  for (;;) {
    const auto engine = engineProcess();
    // Wait for the engine to exit, or for stop(). Its pidfd also works for an adopted engine,
    // which is not our child.
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      if (engine->wait(milliseconds(200))) break;
    }
    const std::string why = exitOf(*engine);
    if (Clock::now() - started >= kStableRun) failures = 0;
    ++failures;
    if (failures > kMaxRestarts) {
      BERTH_LOG(Error, "ns", why << "; gave up after " << kMaxRestarts << " restarts");
      setStatus(GuestState::Broken, why + "; gave up after " + std::to_string(kMaxRestarts) +
                                        " restarts (see " + engineLog() + ")");
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
      next = spawnEngine();
    } catch (const std::exception& e) {
      BERTH_LOG(Error, "ns", e.what());
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      engine_pid_ = next->pid();
      engine_process_ = next;
    }
    if (waitUntilAnswering(*next, kBootLimit, nullptr)) {
      setStatus(GuestState::Running, program + " pid " + std::to_string(next->pid()) +
                                         " (restarted after: " + why + ")");
      BERTH_LOG(Info, "ns", program << " restarted, pid " << next->pid());
    } else if (next->running()) {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      next->signal(SIGKILL);
    }
  }
}

void NsDriver::killGuestProcesses(bool force) {
  const std::string program = runtime_->engineProgram();
  auto engine = engineProcess();
  if (!engine) {
    if (auto found = net::ChildProcess::adopt(enginePidFile(paths_, program), program)) {
      engine = std::make_shared<net::ChildProcess>(std::move(*found));
    }
  }
  if (engine && engine->running()) {
    if (!force) runtime_->shutdown(*engine, this->engine(), layout());
    engine->stop(milliseconds(0), SIGKILL);
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
  // Deepest first; rmdir only removes what is still empty (never user data). A folder another
  // guest still mounts on (a profile sharing the same guest path) stays, and stays listed:
  // removing it would detach that guest's share. This profile's next stop tries again.
  if (dirs.empty()) {
    ::unlink(list.c_str());
    return;  // nothing created: no /proc walk on a stop that has nothing to remove
  }
  std::sort(dirs.begin(), dirs.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  const MountsAnywhere mounts = MountsAnywhere::scan();
  std::string kept;
  for (const auto& d : dirs) {
    if (mounts.atOrBelow(d) || (::rmdir(d.c_str()) != 0 && errno != ENOENT)) kept += d + "\n";
  }
  if (kept.empty()) {
    ::unlink(list.c_str());
  } else {
    net::Files::writeAtomic(list, kept);
  }
}

void NsDriver::stop(bool force) {
  setStatus(GuestState::Stopping, (force ? "killing " : "stopping ") + runtime_->engineProgram());
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
  ::unlink(layout().pid_file.c_str());
  ::unlink((paths_.state_dir + "/holder.pid").c_str());
  std::error_code ignored;
  std::filesystem::remove_all(std::filesystem::path(exec_root_).parent_path(), ignored);
  {
    std::lock_guard lock(mutex_);
    engine_pid_ = 0;
    engine_process_.reset();
    subnet_.clear();
  }
  setStatus(GuestState::Stopped, "");
}

std::string NsDriver::guestId(const ProfilePaths& paths) {
  return "berth-" + hex8(fnv1a(paths.dir));
}

bool NsDriver::guestRunning(const ProfilePaths& paths) {
  return runningEngine(paths) != 0 ||
         NsGuestInit::holderPid(paths.state_dir + "/holder.pid",
                                "/var/run/netns/" + guestId(paths)) != 0;
}

int NsDriver::runningEngine(const ProfilePaths& paths) {
  for (const char* program : {"dockerd", "containerd"}) {
    if (auto engine = net::ChildProcess::adopt(enginePidFile(paths, program), program))
      return engine->pid();
  }
  return 0;
}

std::vector<std::string> NsDriver::shellArgv(const std::vector<std::string>& command,
                                             bool /*tty*/) const {
  const ProfilePaths& paths = paths_;
  int pid =
      NsGuestInit::holderPid(paths.state_dir + "/holder.pid", "/var/run/netns/" + guestId(paths));
  if (pid == 0) pid = runningEngine(paths);
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
