#include "server/FdLimit.h"

#include <sys/resource.h>

#include <algorithm>

#include "server/net/Log.h"

namespace berth::server {

std::size_t FdLimit::raise() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit wanted = limit;
    wanted.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &wanted) == 0) limit = wanted;
  }
  return limit.rlim_cur == RLIM_INFINITY ? std::size_t(1) << 20
                                         : static_cast<std::size_t>(limit.rlim_cur);
}

std::size_t FdLimit::connectionsFor(std::size_t fd_limit) {
  constexpr std::size_t kReserve = 128;
  return fd_limit > kReserve + 2 ? (fd_limit - kReserve) / 2 : 1;
}

std::size_t FdLimit::capConnections(std::size_t wanted) {
  const std::size_t cap = std::min(wanted, connectionsFor(raise()));
  if (cap < wanted) {
    BERTH_LOG(Warn, "daemon", "connection cap lowered to " << cap << " to fit the fd limit");
  }
  return cap;
}

}  // namespace berth::server
