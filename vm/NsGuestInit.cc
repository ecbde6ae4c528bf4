#include "vm/NsGuestInit.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "server/net/ChildProcess.h"

namespace berth::vm {
namespace {

constexpr const char* kHolderName = "berth-guest";  // its comm (at most 15 characters)

[[noreturn]] void die(const std::string& what) {
  std::cerr << "berth ns-init: " << what << ": " << std::strerror(errno) << '\n';
  std::exit(1);
}

ino_t inodeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// mkdir -p, appending each directory it creates to `created` (removed again at stop) when given.
void makeDirs(const std::string& path, std::ofstream* created) {
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0755) == 0) {
      if (created) *created << partial << "\n" << std::flush;
    } else if (errno != EEXIST) {
      die("cannot create mount point " + partial);
    }
  }
}

void enterNamespace(const std::string& path, int type, const std::string& what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, type) != 0) die("cannot enter " + what + " " + path);
  ::close(fd);
}

// Makes the guest's mount namespace (this process ends up in it) with the shares in place.
void makeMountNamespace(const nlohmann::json& guest) {
  if (::unshare(CLONE_NEWNS) != 0) die("cannot make a mount namespace");
  // Host mounts still propagate in (slave); nothing the guest mounts leaks out.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
    die("cannot make / a slave mount");

  std::ofstream created(guest.at("createdDirsFile").get<std::string>(), std::ios::app);
  auto shares = guest.at("shares");
  std::vector<nlohmann::json> ordered(shares.begin(), shares.end());
  // Parents before children, so a nested mount point lands inside its parent's share.
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return a["mountPoint"].template get<std::string>().size() <
           b["mountPoint"].template get<std::string>().size();
  });
  for (const auto& share : ordered) {
    const std::string location = share["location"].get<std::string>();
    const std::string mount_point = share["mountPoint"].get<std::string>();
    struct stat st {};
    if (::stat(location.c_str(), &st) != 0) die("share " + location + " does not exist");
    makeDirs(mount_point, &created);
    if (::mount(location.c_str(), mount_point.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      die("cannot bind-mount " + location + " at " + mount_point);
    }
    if (!share["writable"].get<bool>() && ::mount(nullptr, mount_point.c_str(), nullptr,
                                                  MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      die("cannot make " + mount_point + " read-only");
    }
  }
  // The profile's own directories over fixed guest paths (containerd's runc root): created on
  // the host side first, mode 0700 (they hold engine state). The guest path stays on the host
  // at stop: another profile's guest may have its own directory mounted there, and removing a
  // mount point detaches the mounts on it in every namespace.
  for (const auto& dir : guest.value("privateDirs", nlohmann::json::array())) {
    const std::string source = dir.at("profileDir").get<std::string>();
    const std::string target = dir.at("guestPath").get<std::string>();
    if (::mkdir(source.c_str(), 0700) != 0 && errno != EEXIST) die("cannot create " + source);
    makeDirs(target, nullptr);
    if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0)
      die("cannot bind-mount " + source + " at " + target);
  }
  const std::string resolv = guest.value("resolvConf", "");
  if (!resolv.empty() &&
      ::mount(resolv.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0) {
    die("cannot put " + resolv + " at /etc/resolv.conf");
  }
}

// Leaves a detached process in this process's namespaces that only waits to be killed (the
// driver's stop sends it SIGTERM), and records its pid in `pid_file`.
void spawnHolder(const std::string& pid_file) {
  const pid_t middle = ::fork();
  if (middle < 0) die("cannot start the namespace holder");
  if (middle == 0) {
    // Forked twice so the holder is nobody's child here: it must not become dockerd's.
    const pid_t holder = ::fork();
    if (holder < 0) _exit(1);
    if (holder == 0) {
      ::setsid();
      ::prctl(PR_SET_NAME, kHolderName);
      if (::chdir("/") != 0) _exit(1);
      int null = ::open("/dev/null", O_RDWR);
      for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
      if (null > 2) ::close(null);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      for (;;) ::pause();
    }
    const std::string tmp = pid_file + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << holder << "\n";
    _exit(::rename(tmp.c_str(), pid_file.c_str()) == 0 ? 0 : 1);
  }
  int status = 0;
  if (::waitpid(middle, &status, 0) != middle || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("cannot start the namespace holder");
}

}  // namespace

int NsGuestInit::holderPid(const std::string& pid_file, const std::string& netns_path) {
  auto holder = net::ChildProcess::adopt(pid_file, kHolderName);
  if (!holder) return 0;  // gone, or the pid was reused
  const ino_t netns = inodeOf(netns_path);
  const std::string proc = "/proc/" + std::to_string(holder->pid());
  return netns != 0 && inodeOf(proc + "/ns/net") == netns ? holder->pid() : 0;
}

int NsGuestInit::run(const std::string& guest_json_path) {
  ::close_range(3, ~0U, 0);  // the daemon's sockets and lock must not live on in dockerd
  nlohmann::json guest;
  try {
    std::ifstream in(guest_json_path);
    guest = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    std::cerr << "berth ns-init: cannot read " << guest_json_path << ": " << e.what() << '\n';
    return 1;
  }
  // Into the guest's cgroup first: the holder and dockerd's children (containerd, shims) follow.
  for (const auto& procs : guest.value("cgroupProcs", std::vector<std::string>())) {
    std::ofstream out(procs);
    if (!(out << ::getpid() << "\n" << std::flush)) die("cannot join cgroup " + procs);
  }
  const std::string netns = guest.at("netns").get<std::string>();
  const std::string holder_pid_file = guest.at("holderPidFile").get<std::string>();
  if (const int holder = holderPid(holder_pid_file, netns); holder != 0) {
    // A restart: join the namespaces the running containers (and their shims) live in.
    const std::string ns = "/proc/" + std::to_string(holder) + "/ns/";
    enterNamespace(ns + "net", CLONE_NEWNET, "the guest's network namespace");
    enterNamespace(ns + "mnt", CLONE_NEWNS, "the guest's mount namespace");
  } else {
    enterNamespace(netns, CLONE_NEWNET, "network namespace");
    makeMountNamespace(guest);
    spawnHolder(holder_pid_file);
  }

  // An engine that keeps no pid file of its own (containerd) gets one naming this process,
  // which it becomes at the exec: the driver adopts it from there after a daemon crash.
  if (const std::string pid_file = guest.value("pidFile", ""); !pid_file.empty()) {
    const std::string tmp = pid_file + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << ::getpid() << "\n";
    if (::rename(tmp.c_str(), pid_file.c_str()) != 0) die("cannot write " + pid_file);
  }
  std::vector<std::string> args = guest.at("argv").get<std::vector<std::string>>();
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  die("cannot run " + args[0]);
}

}  // namespace berth::vm
