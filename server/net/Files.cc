#include "server/net/Files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace berth::net {
namespace {

std::runtime_error failure(const std::string& what, const std::string& path) {
  return std::runtime_error("cannot " + what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

std::optional<std::string> Files::read(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string content;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return content;
}

std::string Files::readOr(const std::string& path, std::string fallback) {
  auto content = read(path);
  return content ? std::move(*content) : std::move(fallback);
}

std::string Files::readTrimmed(const std::string& path) {
  std::string text = readOr(path);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r' ||
                           text.back() == '\t')) {
    text.pop_back();
  }
  return text;
}

void Files::writeAtomic(const std::string& path, const std::string& content, mode_t mode) {
  // Created with `mode` from the start (a key is never readable by others, not even briefly),
  // never through a symlink planted at the temporary's name.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) throw failure("create", tmp);
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto error = failure("write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw error;
    }
    written += static_cast<std::size_t>(n);
  }
  // open() applied the umask; the mode asked for is the mode wanted (0600 keys, 0755 scripts).
  const bool finished = ::fchmod(fd, mode) == 0 && ::fsync(fd) == 0;
  if (::close(fd) != 0 || !finished) {
    auto error = failure("finish", tmp);
    ::unlink(tmp.c_str());
    throw error;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto error = failure("write", path);
    ::unlink(tmp.c_str());
    throw error;
  }
}

}  // namespace berth::net
