#include "server/ProcessHolds.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "api/Numbers.h"

namespace berth::server {

ProcessHolds::ProcessHolds(boost::asio::io_context& io, std::function<void(int)> on_change)
    : io_(io), on_change_(std::move(on_change)) {}

ProcessHolds::~ProcessHolds() { stop(); }

std::optional<int> ProcessHolds::parsePid(std::string_view text) {
  const auto value = api::parseWhole<unsigned>(text);
  if (!value || *value == 0 || *value > static_cast<unsigned>(INT32_MAX)) return std::nullopt;
  return static_cast<int>(*value);
}

void ProcessHolds::add(int pid) {
  if (pid <= 0) throw std::invalid_argument("pid " + std::to_string(pid) + " is not a process id");
  // The raw syscall: glibc's wrapper is newer than some of the hosts berth runs on.
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    const int err = errno;
    throw std::invalid_argument(err == ESRCH ? "no process has pid " + std::to_string(pid)
                                             : "cannot watch pid " + std::to_string(pid) + ": " +
                                                   std::strerror(err));
  }
  pidfds_.emplace_front(io_, fd);
  const auto hold = pidfds_.begin();
  count_ += 1;
  hold->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [this, hold](boost::system::error_code ec) {
                     if (ec == boost::asio::error::operation_aborted || stopped_) return;
                     ended(hold);
                   });
  if (on_change_) on_change_(count_);
}

void ProcessHolds::ended(std::list<boost::asio::posix::stream_descriptor>::iterator hold) {
  pidfds_.erase(hold);  // closes the pidfd
  count_ -= 1;
  if (on_change_) on_change_(count_);
}

void ProcessHolds::stop() {
  stopped_ = true;
  pidfds_.clear();  // each pending wait completes with operation_aborted
  count_ = 0;
}

}  // namespace berth::server
