#include "forwarding/GuestListeners.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "forwarding/GuestCniHostports.h"
#include "forwarding/GuestNetns.h"
#include "server/net/ByteStream.h"
#include "server/net/Log.h"

namespace berth::fwd {

GuestListeners::GuestListeners(boost::asio::any_io_executor strand,
                               std::shared_ptr<const GuestNetns> netns, OnPoll on_poll,
                               std::chrono::milliseconds every, bool cni_hostports)
    : strand_(std::move(strand)),
      netns_(std::move(netns)),
      on_poll_(std::move(on_poll)),
      every_(every),
      timer_(strand_) {
  if (cni_hostports) cni_ = std::make_shared<GuestCniHostports>(strand_, netns_->path());
}

GuestListeners::~GuestListeners() {
  if (fd_ >= 0) ::close(fd_);
}

bool GuestListeners::start(std::string& error) {
  if (fd_ < 0) {
    fd_ = netns_->socket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG);
    if (fd_ < 0) {
      error = std::string("cannot open a sock_diag socket in the guest: ") + std::strerror(errno);
      return false;
    }
  }
  poll();
  return true;
}

void GuestListeners::stop() {
  timer_.cancel();
  if (cni_) cni_->stop();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void GuestListeners::poll() {
  if (fd_ < 0) return;
  std::vector<ListeningSocket> found;
  if (dump(AF_INET, found) && dump(AF_INET6, found)) {
    addCniHostports(found);
    std::erase_if(
        found, [](const ListeningSocket& s) { return !SockDiag::wildcardOrLoopback(s.address); });
    sortListeners(found);
    on_poll_(found);
  }
  timer_.expires_after(every_);
  timer_.async_wait([weak = weak_from_this()](net::ErrorCode ec) {
    if (auto self = weak.lock(); self && !ec) self->poll();
  });
}

void GuestListeners::addCniHostports(std::vector<ListeningSocket>& out) {
  if (!cni_) return;
  // The read started now is seen at a later poll: a mapping is forwarded within kCniEvery plus
  // a poll of its rule appearing.
  const auto now = std::chrono::steady_clock::now();
  if (now - cni_read_at_ >= kCniEvery) {
    cni_read_at_ = now;
    cni_->refresh();
  }
  for (const auto& mapping : cni_->last())
    if (mapping.forwardable())
      out.push_back({mapping.host_ip.empty() ? "0.0.0.0" : mapping.host_ip, mapping.port, "",
                     mapping.protocol});
}

bool GuestListeners::dump(int family, std::vector<ListeningSocket>& out) {
  const std::uint32_t sequence = ++sequence_;
  const auto request = SockDiag::listenRequest(family, sequence);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_, request.data(), request.size(), MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    BERTH_LOG(Debug, "forwarding", "sock_diag request: " << std::strerror(errno));
    return false;
  }
  // The kernel builds the dump while we read it: each recv returns at once.
  alignas(nlmsghdr) static thread_local char buffer[32 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      BERTH_LOG(Debug, "forwarding", "sock_diag reply: " << std::strerror(errno));
      return false;
    }
    std::string error;
    switch (SockDiag::parse(buffer, static_cast<std::size_t>(n), sequence, out, error)) {
      case SockDiag::Parse::Done:
        return true;
      case SockDiag::Parse::Error:
        BERTH_LOG(Debug, "forwarding", error);
        return false;
      case SockDiag::Parse::More:
        break;
    }
  }
}

}  // namespace berth::fwd
