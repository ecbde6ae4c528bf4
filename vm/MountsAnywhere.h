#pragma once
// MountsAnywhere: the mount points of every mount namespace on the machine, read in one pass
// over /proc/<pid>/mountinfo (one process per namespace). A cleanup asks it before removing a
// folder it created: since Linux 3.18, rmdir of a folder that is a mount point in another
// namespace succeeds and detaches that mount there, so a stopping ns guest would empty the
// share of another profile's guest that mounted at the same path. Namespaces whose mountinfo
// cannot be read are missed (berth's ns driver runs as root, which reads them all).
// Not thread-safe; scan, query, drop.
#include <set>
#include <string>
#include <string_view>

namespace berth::vm {

class MountsAnywhere {
 public:
  static MountsAnywhere scan();
  // The mount points listed in one mountinfo text (field 5, octal escapes decoded).
  static MountsAnywhere parse(std::string_view mountinfo);

  // Whether some namespace has a mount at `dir` or below it (`dir` absolute, no trailing /).
  bool atOrBelow(const std::string& dir) const;

 private:
  void add(std::string_view mountinfo);

  std::set<std::string> points_;
};

}  // namespace berth::vm
