#include "forwarding/UdpForward.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "server/net/ByteStream.h"
#include "server/net/Log.h"

namespace berth::fwd {
namespace {

constexpr int kBatch = 64;  // datagrams moved per wake-up before yielding to other work
constexpr auto kSweepEvery = std::chrono::seconds(15);
using Clock = std::chrono::steady_clock;

// The address a datagram was sent to, as recvmsg's control data reports it.
struct LocalAddress {
  bool v6 = false;
  bool known = false;
  in_pktinfo v4{};
  in6_pktinfo v6info{};
};

}  // namespace

struct UdpForward::State : std::enable_shared_from_this<UdpForward::State> {
  struct Flow {
    explicit Flow(boost::asio::any_io_executor executor) : upstream(std::move(executor)) {}
    boost::asio::ip::udp::socket upstream;
    sockaddr_storage client{};
    socklen_t client_len = 0;
    LocalAddress local;
    Clock::time_point last_active;
  };

  State(boost::asio::any_io_executor executor) : socket(executor), sweep(executor) {}

  boost::asio::ip::udp::socket socket;
  boost::asio::steady_timer sweep;
  boost::asio::ip::udp::endpoint target;
  bool want_pktinfo = false;
  bool sweeping = false;
  bool closed = false;
  std::unordered_map<std::string, std::shared_ptr<Flow>> flows;
  std::array<char, 65536> buffer{};

  void readClients();
  void onClientsReadable();
  std::shared_ptr<Flow> flowFor(const sockaddr_storage& from, socklen_t len,
                                const LocalAddress& local);
  void readFlow(const std::shared_ptr<Flow>& flow);
  void onFlowReadable(const std::shared_ptr<Flow>& flow);
  void scheduleSweep();
  void close();
};

std::unique_ptr<UdpForward> UdpForward::open(boost::asio::any_io_executor control,
                                             const boost::asio::ip::udp::endpoint& bind,
                                             const boost::asio::ip::udp::endpoint& target,
                                             std::string& error) {
  auto state = std::make_shared<State>(std::move(control));
  state->target = target;
  auto& socket = state->socket;
  net::ErrorCode ec;
  socket.open(bind.protocol(), ec);
  if (!ec && bind.address().is_v6()) socket.set_option(boost::asio::ip::v6_only(true), ec);
  if (!ec) socket.bind(bind, ec);
  if (!ec) socket.native_non_blocking(true, ec);
  if (ec) {
    error = ec.message();
    return nullptr;
  }
  if (bind.address().is_unspecified()) {
    const int one = 1;
    state->want_pktinfo = true;
    if (bind.address().is_v6()) {
      ::setsockopt(socket.native_handle(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    } else {
      ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    }
  }
  state->readClients();
  return std::unique_ptr<UdpForward>(new UdpForward(state));
}

UdpForward::~UdpForward() { state_->close(); }

void UdpForward::State::close() {
  closed = true;
  net::ErrorCode ignored;
  socket.close(ignored);
  sweep.cancel();
  for (auto& [key, flow] : flows) flow->upstream.close(ignored);
  flows.clear();
}

void UdpForward::State::readClients() {
  socket.async_wait(boost::asio::ip::udp::socket::wait_read,
                    [self = shared_from_this()](net::ErrorCode ec) {
                      if (ec || self->closed) return;
                      self->onClientsReadable();
                    });
}

void UdpForward::State::onClientsReadable() {
  for (int i = 0; i < kBatch; ++i) {
    sockaddr_storage from{};
    iovec iov{buffer.data(), buffer.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))];
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(socket.native_handle(), &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR || errno == ECONNREFUSED) continue;
      BERTH_LOG(Warn, "forwarding", "udp recv: " << std::strerror(errno));
      break;
    }
    LocalAddress local;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        std::memcpy(&local.v4, CMSG_DATA(c), sizeof local.v4);
        local.known = true;
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        std::memcpy(&local.v6info, CMSG_DATA(c), sizeof local.v6info);
        local.v6 = local.known = true;
      }
    }
    auto flow = flowFor(from, msg.msg_namelen, local);
    if (!flow) continue;
    flow->last_active = Clock::now();
    // A full socket buffer drops the datagram, as the network would.
    (void)::send(flow->upstream.native_handle(), buffer.data(), static_cast<std::size_t>(n),
                 MSG_DONTWAIT);
  }
  readClients();
}

std::shared_ptr<UdpForward::State::Flow> UdpForward::State::flowFor(const sockaddr_storage& from,
                                                                    socklen_t len,
                                                                    const LocalAddress& local) {
  std::string key(reinterpret_cast<const char*>(&from), len);
  auto it = flows.find(key);
  if (it != flows.end()) return it->second;
  if (flows.size() >= kMaxFlows) {
    auto oldest = flows.begin();
    for (auto f = flows.begin(); f != flows.end(); ++f) {
      if (f->second->last_active < oldest->second->last_active) oldest = f;
    }
    net::ErrorCode ignored;
    oldest->second->upstream.close(ignored);
    flows.erase(oldest);
  }
  auto flow = std::make_shared<Flow>(socket.get_executor());
  net::ErrorCode ec;
  flow->upstream.open(target.protocol(), ec);
  if (!ec) flow->upstream.connect(target, ec);
  if (!ec) flow->upstream.native_non_blocking(true, ec);
  if (ec) {
    BERTH_LOG(Warn, "forwarding", "udp flow to " << target << ": " << ec.message());
    return nullptr;
  }
  flow->client = from;
  flow->client_len = len;
  flow->local = local;
  flows.emplace(std::move(key), flow);
  readFlow(flow);
  scheduleSweep();
  return flow;
}

void UdpForward::State::readFlow(const std::shared_ptr<Flow>& flow) {
  flow->upstream.async_wait(
      boost::asio::ip::udp::socket::wait_read,
      [self = shared_from_this(), weak = std::weak_ptr<Flow>(flow)](net::ErrorCode ec) {
        auto f = weak.lock();
        if (ec || self->closed || !f || !f->upstream.is_open()) return;
        self->onFlowReadable(f);
      });
}

void UdpForward::State::onFlowReadable(const std::shared_ptr<Flow>& flow) {
  for (int i = 0; i < kBatch; ++i) {
    ssize_t n = ::recv(flow->upstream.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR || errno == ECONNREFUSED) continue;  // guest port closed: ICMP
      break;
    }
    flow->last_active = Clock::now();
    iovec iov{buffer.data(), static_cast<std::size_t>(n)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
    msghdr msg{};
    msg.msg_name = &flow->client;
    msg.msg_namelen = flow->client_len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (want_pktinfo && flow->local.known) {
      msg.msg_control = control;
      cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
      if (flow->local.v6) {
        msg.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
        std::memcpy(CMSG_DATA(c), &flow->local.v6info, sizeof(in6_pktinfo));
      } else {
        msg.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
        in_pktinfo reply{};
        reply.ipi_spec_dst = flow->local.v4.ipi_addr;  // answer from where the client sent to
        std::memcpy(CMSG_DATA(c), &reply, sizeof reply);
      }
    }
    (void)::sendmsg(socket.native_handle(), &msg, MSG_DONTWAIT);
  }
  readFlow(flow);
}

void UdpForward::State::scheduleSweep() {
  if (sweeping || closed) return;
  sweeping = true;
  sweep.expires_after(kSweepEvery);
  sweep.async_wait([self = shared_from_this()](net::ErrorCode ec) {
    self->sweeping = false;
    if (ec || self->closed) return;
    auto cutoff = Clock::now() - kIdleExpiry;
    for (auto it = self->flows.begin(); it != self->flows.end();) {
      if (it->second->last_active < cutoff) {
        net::ErrorCode ignored;
        it->second->upstream.close(ignored);
        it = self->flows.erase(it);
      } else {
        ++it;
      }
    }
    if (!self->flows.empty()) self->scheduleSweep();
  });
}

}  // namespace berth::fwd
