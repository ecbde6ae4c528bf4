#include "server/SocketHandover.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace berth::server {

namespace {

// `path` beside itself under another name: "/d/containerd.sock" -> "/d/.containerd.sock.<tail>".
std::string sibling(const std::string& path, const std::string& tail) {
  const auto slash = path.rfind('/');
  const std::size_t name_at = slash == std::string::npos ? 0 : slash + 1;
  return path.substr(0, name_at) + "." + path.substr(name_at) + "." + tail;
}

bool sameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

SocketHandover::SocketHandover(std::string path)
    : path_(std::move(path)), reserve_(sibling(path_, "berth")), staging_(sibling(path_, "new")) {}

void SocketHandover::remember() {
  std::lock_guard lock(mutex_);
  ::unlink(reserve_.c_str());  // a crashed daemon's: it named a socket that is gone
  if (::link(path_.c_str(), reserve_.c_str()) != 0) {
    throw std::runtime_error("cannot link " + path_ + " to " + reserve_ + ": " +
                             std::strerror(errno));
  }
}

bool SocketHandover::nameIt(const std::string& source, const struct stat& source_stat,
                            std::string& why) {
  struct stat at {};
  if (::lstat(path_.c_str(), &at) == 0 && sameFile(at, source_stat)) return true;  // it does
  ::unlink(staging_.c_str());
  if (::link(source.c_str(), staging_.c_str()) != 0) {
    why = "cannot link " + source + ": " + std::strerror(errno);
    return false;
  }
  // The path's mode is the inode's: the target's socket becomes 0600 like berth's own.
  ::chmod(staging_.c_str(), 0600);
  if (::rename(staging_.c_str(), path_.c_str()) != 0) {
    why = "cannot rename " + staging_ + " to " + path_ + ": " + std::strerror(errno);
    ::unlink(staging_.c_str());
    return false;
  }
  return true;
}

bool SocketHandover::handTo(const std::string& target, std::string& why) {
  std::lock_guard lock(mutex_);
  struct stat to {};
  if (::lstat(target.c_str(), &to) != 0 || !S_ISSOCK(to.st_mode)) {
    why = target + " is not a socket";
    return false;
  }
  return nameIt(target, to, why);
}

bool SocketHandover::takeBack(std::string& why) {
  std::lock_guard lock(mutex_);
  struct stat own {};
  if (::lstat(reserve_.c_str(), &own) != 0) {
    why = "berth's own socket (" + reserve_ + ") is gone: " + std::strerror(errno);
    return false;
  }
  return nameIt(reserve_, own, why);
}

bool SocketHandover::handedOver() const {
  std::lock_guard lock(mutex_);
  struct stat at {
  }, own{};
  if (::lstat(reserve_.c_str(), &own) != 0 || ::lstat(path_.c_str(), &at) != 0) return false;
  return !sameFile(at, own);
}

void SocketHandover::forget() {
  std::lock_guard lock(mutex_);
  ::unlink(reserve_.c_str());
  ::unlink(staging_.c_str());
}

bool SocketHandover::isHandedTo(const std::string& path, const std::string& target) {
  struct stat at {
  }, to{};
  return ::lstat(path.c_str(), &at) == 0 && ::lstat(target.c_str(), &to) == 0 &&
         S_ISSOCK(at.st_mode) && sameFile(at, to);
}

}  // namespace berth::server
