#include "vm/GuestCgroup.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "server/net/Log.h"
#include "vm/Driver.h"

namespace berth::vm {
namespace {

constexpr const char* kRoot = "/sys/fs/cgroup";
constexpr long kCfsPeriod = 100000;  // microseconds

bool isUnified() {
  struct statfs fs {};
  return ::statfs(kRoot, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

void writeValue(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  if (!out.flush()) {
    throw DriverError("cannot set " + path + " to " + value + ": " + std::strerror(errno) +
                      " (the ns driver applies cpus and memory with cgroups)");
  }
}

void makeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    throw DriverError("cannot create cgroup " + path + ": " + std::strerror(errno) +
                      " (the ns driver applies cpus and memory with cgroups)");
  }
}

}  // namespace

GuestCgroup::GuestCgroup(std::string name) : name_(std::move(name)), unified_(isUnified()) {}

std::vector<std::string> GuestCgroup::dirs() const {
  if (unified_) return {std::string(kRoot) + "/" + name_};
  return {std::string(kRoot) + "/cpu/" + name_, std::string(kRoot) + "/memory/" + name_};
}

std::vector<std::string> GuestCgroup::procsFiles() const {
  std::vector<std::string> files;
  for (const auto& d : dirs()) files.push_back(d + "/cgroup.procs");
  return files;
}

void GuestCgroup::apply(int cpus, double memory_gib) {
  const long long bytes = std::llround(memory_gib * 1024 * 1024 * 1024);
  const std::string quota = std::to_string(kCfsPeriod * cpus);
  if (unified_) {
    // The controllers must be enabled for the root's children first.
    writeValue(std::string(kRoot) + "/cgroup.subtree_control", "+cpu +memory");
    const std::string d = dirs()[0];
    makeDir(d);
    writeValue(d + "/cpu.max", quota + " " + std::to_string(kCfsPeriod));
    writeValue(d + "/memory.max", std::to_string(bytes));
    writeValue(d + "/memory.swap.max", "0");
    // Containers' groups below this one need the controllers too.
    writeValue(d + "/cgroup.subtree_control", "+cpu +memory");
    return;
  }
  const auto d = dirs();
  makeDir(d[0]);
  writeValue(d[0] + "/cpu.cfs_period_us", std::to_string(kCfsPeriod));
  writeValue(d[0] + "/cpu.cfs_quota_us", quota);
  makeDir(d[1]);
  // A new limit below the usage fails with EBUSY: a fresh group has no usage.
  writeValue(d[1] + "/memory.limit_in_bytes", std::to_string(bytes));
  std::error_code ec;
  if (std::filesystem::exists(d[1] + "/memory.memsw.limit_in_bytes", ec)) {
    writeValue(d[1] + "/memory.memsw.limit_in_bytes", std::to_string(bytes));
  }
}

void GuestCgroup::remove() const {
  // On v1, runc made the group in every hierarchy for the containers (cgroup-parent): all go.
  std::vector<std::string> all = dirs();
  std::error_code walk;
  if (!unified_) {
    for (const auto& h : std::filesystem::directory_iterator(kRoot, walk)) {
      const std::string d = h.path().string() + "/" + name_;
      if (std::find(all.begin(), all.end(), d) == all.end()) all.push_back(d);
    }
  }
  for (const auto& d : all) {
    std::error_code ec;
    if (!std::filesystem::exists(d, ec)) continue;
    // Deepest first: dockerd's container groups below it are empty once the guest is gone.
    std::vector<std::string> inner;
    for (auto it = std::filesystem::recursive_directory_iterator(d, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_directory(ec)) inner.push_back(it->path().string());
    }
    for (auto i = inner.rbegin(); i != inner.rend(); ++i) ::rmdir(i->c_str());
    // A killed process leaves its group only once the kernel has finished it: EBUSY meanwhile.
    for (int attempt = 0; attempt < 40 && ::rmdir(d.c_str()) != 0 && errno == EBUSY; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (std::filesystem::exists(d, ec)) {
      BERTH_LOG(Warn, "ns", "cannot remove cgroup " << d << ": " << std::strerror(errno));
    }
  }
}

}  // namespace berth::vm
