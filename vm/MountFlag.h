#pragma once
// MountFlag: parses one `--mount HOST[:GUEST][:w]` flag (berth start, berth daemon) into a
// Share. Rules: HOST must be an absolute POSIX path (`~` and `~/x` expand to `home`); an
// omitted GUEST means the same path as HOST (Lima's default); a trailing `:w` makes the share
// writable, without it the share is read-only (Colima's rule). Paths are normalised lexically
// (duplicate and trailing slashes, `.` and `..`). Pure functions; throw MountFlagError with one
// clear line naming the flag and the fix. Thread-safe.
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vm/Driver.h"

namespace berth::vm {

class MountFlagError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class MountFlag {
 public:
  // Parses one flag value. `home` expands a leading `~`; empty `home` refuses `~`.
  static Share parse(std::string_view flag, std::string_view home = {});
  // Parses every flag and refuses two shares of the same host folder or guest mount point.
  static std::vector<Share> parseAll(const std::vector<std::string>& flags,
                                     std::string_view home = {});
  // The flag that describes `share` (inverse of parse): "/h", "/h:w", "/h:/g", "/h:/g:w".
  static std::string format(const Share& share);
};

}  // namespace berth::vm
