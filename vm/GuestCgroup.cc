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

constexpr const char* kEngineLeaf = "engine";  // v2: where the guest's own processes sit

bool isUnified() {
  struct statfs fs {};
  return ::statfs(kRoot, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
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

// rmdir of `dir` and the groups below it, deepest first (dockerd's container groups, the
// engine leaf); true when `dir` is gone, else errno says why.
bool removeTree(const std::string& dir) {
  std::vector<std::string> inner;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory(ec)) inner.push_back(it->path().string());
  }
  for (auto i = inner.rbegin(); i != inner.rend(); ++i) ::rmdir(i->c_str());
  return ::rmdir(dir.c_str()) == 0;
}

}  // namespace

GuestCgroup::GuestCgroup(std::string name) : GuestCgroup(std::move(name), kRoot, isUnified()) {}

GuestCgroup::GuestCgroup(std::string name, std::string root, bool unified)
    : name_(std::move(name)), root_(std::move(root)), unified_(unified) {}

std::vector<std::string> GuestCgroup::dirs() const {
  if (unified_) return {root_ + "/" + name_};
  return {root_ + "/cpu/" + name_, root_ + "/memory/" + name_};
}

std::vector<std::string> GuestCgroup::procsFiles() const {
  if (unified_) return {dirs()[0] + "/" + kEngineLeaf + "/cgroup.procs"};
  std::vector<std::string> files;
  for (const auto& d : dirs()) files.push_back(d + "/cgroup.procs");
  return files;
}

void GuestCgroup::apply(int cpus, double memory_gib) {
  const long long bytes = std::llround(memory_gib * 1024 * 1024 * 1024);
  const std::string quota = std::to_string(kCfsPeriod * cpus);
  if (unified_) {
    // The controllers must be enabled for the root's children first (the root may hold
    // processes: it is exempt from the no-internal-processes rule).
    writeValue(root_ + "/cgroup.subtree_control", "+cpu +memory");
    const std::string d = dirs()[0];
    makeDir(d);
    writeValue(d + "/cpu.max", quota + " " + std::to_string(kCfsPeriod));
    // memory.max, not memory.high: past it the kernel OOM-kills, as docker run --memory does.
    writeValue(d + "/memory.max", std::to_string(bytes));
    // Only with swap accounting (and a swap device to fill) is there a memory.swap.max.
    if (exists(d + "/memory.swap.max")) writeValue(d + "/memory.swap.max", "0");
    // The containers' groups (dockerd's cgroup-parent is this group) need the controllers.
    // A group with controllers for its children may hold no process: the guest's own go to a
    // leaf beside the containers'.
    writeValue(d + "/cgroup.subtree_control", "+cpu +memory");
    makeDir(d + "/" + kEngineLeaf);
    return;
  }
  const auto d = dirs();
  makeDir(d[0]);
  writeValue(d[0] + "/cpu.cfs_period_us", std::to_string(kCfsPeriod));
  writeValue(d[0] + "/cpu.cfs_quota_us", quota);
  makeDir(d[1]);
  // A new limit below the usage fails with EBUSY: a fresh group has no usage.
  writeValue(d[1] + "/memory.limit_in_bytes", std::to_string(bytes));
  if (exists(d[1] + "/memory.memsw.limit_in_bytes")) {
    writeValue(d[1] + "/memory.memsw.limit_in_bytes", std::to_string(bytes));
  }
}

void GuestCgroup::remove() const {
  // On v1, runc made the group in every hierarchy for the containers (cgroup-parent): all go.
  std::vector<std::string> all = dirs();
  std::error_code walk;
  if (!unified_) {
    for (const auto& h : std::filesystem::directory_iterator(root_, walk)) {
      const std::string d = h.path().string() + "/" + name_;
      if (std::find(all.begin(), all.end(), d) == all.end()) all.push_back(d);
    }
  }
  for (const auto& d : all) {
    std::error_code ec;
    if (!std::filesystem::exists(d, ec)) continue;
    // A killed process leaves its group only once the kernel has finished it: EBUSY meanwhile.
    // On v2 the guest's own processes sit in a child (engine), so the children are retried too.
    for (int attempt = 0; attempt < 40 && !removeTree(d) && errno == EBUSY; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (std::filesystem::exists(d, ec)) {
      BERTH_LOG(Warn, "ns", "cannot remove cgroup " << d << ": " << std::strerror(errno));
    }
  }
}

}  // namespace berth::vm
