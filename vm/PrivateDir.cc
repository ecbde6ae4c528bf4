#include "vm/PrivateDir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace berth::vm {
namespace {

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) throw std::runtime_error("cannot resolve " + path);
  return std::string(cwd) + "/" + path;
}

std::string parentOf(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

std::string trimmed(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

struct stat statOf(const std::string& path, bool follow) {
  struct stat st {};
  int r = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  if (r != 0) throw std::runtime_error("cannot inspect " + path + ": " + std::strerror(errno));
  return st;
}

// Another user could rename or replace what lies below `dir`.
void checkAncestor(const std::string& dir) {
  struct stat st = statOf(dir, true);  // a symlinked ancestor (/var/run) is judged by target
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    throw std::runtime_error(dir + " is owned by uid " + std::to_string(st.st_uid) +
                             ", not by you or root: berth keeps its sockets and keys out of "
                             "directories other users control (use another BERTH_HOME)");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
    throw std::runtime_error(dir + " is writable by other users (mode " + octal(st.st_mode) +
                             ") without the sticky bit; run: chmod go-w " + dir);
  }
}

void checkAncestors(const std::string& path) {
  for (std::string dir = parentOf(path);; dir = parentOf(dir)) {
    checkAncestor(dir);
    if (dir == "/") break;
  }
}

}  // namespace

void PrivateDir::check(const std::string& raw) {
  std::string path = trimmed(absolute(raw));
  struct stat st = statOf(path, false);
  if (S_ISLNK(st.st_mode)) {
    throw std::runtime_error(path + " is a symlink; berth wants a real directory there");
  }
  if (!S_ISDIR(st.st_mode)) throw std::runtime_error(path + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    throw std::runtime_error(path + " is owned by uid " + std::to_string(st.st_uid) +
                             ", not by you (uid " + std::to_string(::geteuid()) +
                             "); remove it or fix its owner");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    throw std::runtime_error(path + " is writable by other users (mode " + octal(st.st_mode) +
                             "), so they could take over the Docker engine; run: chmod 700 " +
                             path);
  }
  checkAncestors(path);
}

void PrivateDir::ensure(const std::string& raw) {
  std::string path = trimmed(absolute(raw));
  if (::mkdir(path.c_str(), 0700) != 0) {
    if (errno == ENOENT) {
      ensure(parentOf(path));
      if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
        throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
      }
    } else if (errno != EEXIST) {
      throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
    }
  }
  check(path);
}

void PrivateDir::checkSocketDir(const std::string& raw) {
  std::string dir = trimmed(absolute(raw));
  checkAncestor(dir);
  if (dir != "/") checkAncestors(dir);
}

}  // namespace berth::vm
