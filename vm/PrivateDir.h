#pragma once
// PrivateDir: the access rules for berth's state directories (BERTH_HOME, a profile dir, TLS
// material, the directory of a socket). Whoever can write there can swap a socket or a key and
// own the engine, so: a private dir is a real directory (not a symlink) owned by the user and
// writable by nobody else, and no ancestor lets another user rename it away (an ancestor must
// be owned by the user or root, and be writable by others only with the sticky bit, like
// /tmp). Control plane: every function throws std::runtime_error with one clear line saying
// what is wrong and how to fix it. Thread-safe (stateless).
#include <string>

namespace berth::vm {

class PrivateDir {
 public:
  // Creates `path` 0700 (missing parents too, 0700) if it does not exist; then check(path).
  // An existing directory is never chmod-ed (it may be one the user shares on purpose).
  static void ensure(const std::string& path);
  // Refuses a `path` that is not a private directory of this user, or whose ancestors are not
  // safe. Changes nothing.
  static void check(const std::string& path);
  // For the directory a unix socket is created in (the plain `berth daemon --socket` mode):
  // only the ancestor rule, applied to `dir` itself too. A shared sticky dir such as /tmp
  // passes; a world-writable one without the sticky bit does not.
  static void checkSocketDir(const std::string& dir);
};

}  // namespace berth::vm
