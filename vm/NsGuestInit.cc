#include "vm/NsGuestInit.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

namespace berth::vm {
namespace {

[[noreturn]] void die(const std::string& what) {
  std::cerr << "berth ns-init: " << what << ": " << std::strerror(errno) << std::endl;
  std::exit(1);
}

// mkdir -p, appending each directory it creates to `created` (removed again at stop).
void makeDirs(const std::string& path, std::ofstream& created) {
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0755) == 0) {
      created << partial << "\n";
      created.flush();
    } else if (errno != EEXIST) {
      die("cannot create mount point " + partial);
    }
  }
}

}  // namespace

int NsGuestInit::run(const std::string& guest_json_path) {
  ::close_range(3, ~0U, 0);  // the daemon's sockets and lock must not live on in dockerd
  nlohmann::json guest;
  try {
    std::ifstream in(guest_json_path);
    guest = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    std::cerr << "berth ns-init: cannot read " << guest_json_path << ": " << e.what() << std::endl;
    return 1;
  }
  const std::string netns = guest.at("netns").get<std::string>();
  int fd = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) die("cannot enter network namespace " + netns);
  ::close(fd);
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
    makeDirs(mount_point, created);
    if (::mount(location.c_str(), mount_point.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      die("cannot bind-mount " + location + " at " + mount_point);
    }
    if (!share["writable"].get<bool>() && ::mount(nullptr, mount_point.c_str(), nullptr,
                                                  MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      die("cannot make " + mount_point + " read-only");
    }
  }
  const std::string resolv = guest.value("resolvConf", "");
  if (!resolv.empty() &&
      ::mount(resolv.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0) {
    die("cannot put " + resolv + " at /etc/resolv.conf");
  }
  created.close();

  std::vector<std::string> args = guest.at("argv").get<std::vector<std::string>>();
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  die("cannot run " + args[0]);
}

}  // namespace berth::vm
