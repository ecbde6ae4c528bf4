#include "server/DockerSockLink.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace berth::server {
namespace {

// True when a unix socket at `path` (links followed) accepts a connection.
bool answers(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

DockerSockLink::DockerSockLink(std::string target) : target_(std::move(target)) {
  const char* env = std::getenv("BERTH_DOCKER_SOCK");
  path_ = env != nullptr && *env != '\0' ? env : "/var/run/docker.sock";
}

bool DockerSockLink::ours() const {
  std::error_code ec;
  return std::filesystem::is_symlink(path_, ec) &&
         std::filesystem::read_symlink(path_, ec).string() == target_;
}

void DockerSockLink::check() const {
  if (::geteuid() != 0) {
    throw std::runtime_error("dockerSock (--docker-sock) needs root: " + path_ +
                             " is the system's; use the docker context or DOCKER_HOST instead");
  }
  struct stat st {};
  if (::lstat(path_.c_str(), &st) != 0 || ours()) return;  // free, or already this link
  const bool link_or_socket = S_ISLNK(st.st_mode) || S_ISSOCK(st.st_mode);
  if (!link_or_socket || answers(path_)) {
    throw std::runtime_error("not replacing " + path_ +
                             ": it belongs to another engine that is running (stop it, or use "
                             "the docker context or DOCKER_HOST instead of --docker-sock)");
  }
}

void DockerSockLink::claim() const {
  check();
  if (ours()) return;
  ::unlink(path_.c_str());  // a dead socket or a dangling link: nobody's
  if (::symlink(target_.c_str(), path_.c_str()) != 0) {
    throw std::runtime_error("cannot link " + path_ + " to " + target_ + ": " +
                             std::strerror(errno));
  }
}

void DockerSockLink::release() const {
  if (ours()) ::unlink(path_.c_str());
}

}  // namespace berth::server
