#pragma once
// GuestCgroup: the cgroup that holds a whole `ns` guest (the namespace holder, dockerd,
// containerd, the shims and, through dockerd's cgroup-parent, every container), so the
// profile's cpus and memory are limits in force, not labels. cgroup v2: one group with cpu.max
// and memory.max whose own processes sit in its leaf child `engine` (v2 lets a group with
// processes delegate no controller to children, and the containers' groups need them), the
// containers' groups beside it. v1: a group of that name in the cpu and memory hierarchies, with
// cfs quota and memory.limit_in_bytes. Blocking file I/O; not thread-safe (one per driver).
#include <string>
#include <vector>

namespace berth::vm {

class GuestCgroup {
 public:
  // `name` is one path component ("berth-1234abcd"); the host's /sys/fs/cgroup, v2 or v1.
  explicit GuestCgroup(std::string name);
  // The same below `root`, a cgroup v2 (`unified`) or v1 mount: for tests on a plain folder.
  GuestCgroup(std::string name, std::string root, bool unified);

  // Creates the group(s) and sets the limits; throws DriverError with one clear line when the
  // host cannot enforce them.
  void apply(int cpus, double memory_gib);
  // The cgroup.procs files a process writes its pid into to join (it, and its children).
  std::vector<std::string> procsFiles() const;
  // dockerd's cgroup-parent: containers go below the group.
  std::string cgroupParent() const { return "/" + name_; }
  // Removes the group(s) once no process is left in them; failures are only logged.
  void remove() const;

 private:
  std::vector<std::string> dirs() const;  // the group's directories (one on v2, two on v1)

  std::string name_;
  std::string root_;
  bool unified_ = false;
};

}  // namespace berth::vm
