#include "vm/MountsAnywhere.h"

#include <sys/stat.h>

#include <filesystem>
#include <utility>

#include "server/net/Files.h"

namespace berth::vm {
namespace {

// mountinfo escapes space, tab, newline and backslash in paths as \ooo (proc(5)).
std::string unescape(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    const auto octal = [&field](std::size_t at) { return field[at] >= '0' && field[at] <= '7'; };
    if (field[i] == '\\' && i + 3 < field.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                               (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

}  // namespace

MountsAnywhere MountsAnywhere::parse(std::string_view mountinfo) {
  MountsAnywhere mounts;
  mounts.add(mountinfo);
  return mounts;
}

MountsAnywhere MountsAnywhere::scan() {
  MountsAnywhere mounts;
  std::set<std::pair<dev_t, ino_t>> seen;  // mount namespaces already read
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat ns {};
    if (::stat(("/proc/" + pid + "/ns/mnt").c_str(), &ns) != 0) continue;  // gone or kernel
    if (!seen.emplace(ns.st_dev, ns.st_ino).second) continue;
    mounts.add(net::Files::readOr("/proc/" + pid + "/mountinfo"));
  }
  return mounts;
}

void MountsAnywhere::add(std::string_view mountinfo) {
  while (!mountinfo.empty()) {
    const std::size_t eol = mountinfo.find('\n');
    std::string_view line = mountinfo.substr(0, eol);
    mountinfo.remove_prefix(eol == std::string_view::npos ? mountinfo.size() : eol + 1);
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": field 5 is the point.
    for (int field = 1; field < 5 && !line.empty(); ++field) {
      const std::size_t space = line.find(' ');
      line.remove_prefix(space == std::string_view::npos ? line.size() : space + 1);
    }
    const std::string_view point = line.substr(0, line.find(' '));
    if (!point.empty()) points_.insert(unescape(point));
  }
}

bool MountsAnywhere::atOrBelow(const std::string& dir) const {
  for (auto it = points_.lower_bound(dir); it != points_.end(); ++it) {
    if (it->compare(0, dir.size(), dir) != 0) return false;  // sorted: past dir's prefix
    if (it->size() == dir.size() || (*it)[dir.size()] == '/') return true;
  }
  return false;
}

}  // namespace berth::vm
