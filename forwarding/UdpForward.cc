#include "forwarding/UdpForward.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "forwarding/GuestNetns.h"
#include "forwarding/WakeGate.h"
#include "server/net/ByteStream.h"
#include "server/net/Log.h"

namespace berth::fwd {
namespace {

constexpr int kGsoSegments = 64;              // the kernel's UDP_MAX_SEGMENTS is 64 or more
constexpr std::size_t kGsoBytes = 60000;      // a GSO send is one UDP datagram's worth at most
constexpr std::size_t kGsoMaxSegment = 1400;  // larger datagrams may need IP fragments: no GSO
constexpr int kRounds = 16;  // batches moved per wake-up before yielding to other work
// Socket receive buffers big enough to ride out the relay being descheduled for a few
// milliseconds on a busy host (the 208 KiB default holds ~300 small datagrams). Only a
// backlog uses it.
constexpr int kReceiveBuffer = 4 * 1024 * 1024;

void growReceiveBuffer(int fd) {
  // SO_RCVBUFFORCE passes net.core.rmem_max when the daemon may (root); else ask politely.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer, sizeof kReceiveBuffer) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);
  }
}
constexpr auto kSweepEvery = std::chrono::seconds(15);
using Clock = std::chrono::steady_clock;

// The address a datagram was sent to, as recvmsg's control data reports it.
struct LocalAddress {
  bool v6 = false;
  bool known = false;
  in_pktinfo v4{};
  in6_pktinfo v6info{};
};

// Buffers for recvmmsg/sendmmsg: 64 datagrams of up to 64 KiB. Everything of every UDP
// forward runs on the control strand, so one batch per thread serves them all; pages are
// only touched as far as datagrams reach.
struct Batch {
  static constexpr int kSize = 64;
  static constexpr std::size_t kSlot = 65536;
  static constexpr std::size_t kControl = CMSG_SPACE(sizeof(in6_pktinfo));

  std::vector<char> data = std::vector<char>(kSize * kSlot);
  std::array<mmsghdr, kSize> in{};
  std::array<mmsghdr, kSize> out{};
  std::array<iovec, kSize> in_iov{};
  std::array<iovec, kSize> out_iov{};
  std::array<sockaddr_storage, kSize> addr{};
  alignas(cmsghdr) std::array<std::array<char, kControl>, kSize> control{};

  void prepareReceive(bool with_source) {
    for (int i = 0; i < kSize; ++i) {
      in_iov[i] = {data.data() + i * kSlot, kSlot};
      msghdr& h = in[i].msg_hdr;
      h = {};
      h.msg_iov = &in_iov[i];
      h.msg_iovlen = 1;
      if (with_source) {
        h.msg_name = &addr[i];
        h.msg_namelen = sizeof addr[i];
        h.msg_control = control[i].data();
        h.msg_controllen = kControl;
      }
    }
  }
  // Datagram `i` as received, to send on: to `to` (null on a connected socket).
  void setOut(int i, std::size_t length, sockaddr_storage* to, socklen_t to_len, char* ctl,
              std::size_t ctl_len) {
    out_iov[i] = {data.data() + i * kSlot, length};
    msghdr& h = out[i].msg_hdr;
    h = {};
    h.msg_iov = &out_iov[i];
    h.msg_iovlen = 1;
    h.msg_name = to;
    h.msg_namelen = to ? to_len : 0;
    h.msg_control = ctl;
    h.msg_controllen = ctl_len;
  }
};

Batch& batch() {
  thread_local Batch b;
  return b;
}

}  // namespace

struct UdpForward::State : std::enable_shared_from_this<UdpForward::State> {
  struct Flow {
    explicit Flow(boost::asio::any_io_executor executor) : upstream(executor) {}
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
  std::shared_ptr<const GuestNetns> netns;
  std::shared_ptr<WakeGate> gate;
  std::uint16_t container_port = 0;  // what a wake waits for bound
  bool want_pktinfo = false;
  bool gso = true;  // UDP_SEGMENT works (cleared at its first failure)
  bool sweeping = false;
  bool closed = false;
  std::unordered_map<std::string, std::shared_ptr<Flow>> flows;

  void readClients();
  bool admitted();
  void dropQueued();
  void onClientsReadable();
  void sendRun(int fd, int start, int end);
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
                                             std::shared_ptr<const GuestNetns> netns,
                                             std::shared_ptr<WakeGate> gate,
                                             std::uint16_t container_port, std::string& error) {
  auto state = std::make_shared<State>(std::move(control));
  state->container_port = container_port;
  state->target = target;
  state->netns = std::move(netns);
  state->gate = std::move(gate);
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
  growReceiveBuffer(socket.native_handle());
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
                      if (ec || self->closed || !self->admitted()) return;
                      self->onClientsReadable();
                    });
}

// Without a gate, or with the container awake: read now. Otherwise the datagrams stay queued in
// the socket while the gate wakes it; reading resumes (or drops them) once it has answered.
bool UdpForward::State::admitted() {
  if (!gate) return true;
  gate->touched();
  auto resume = [weak = weak_from_this()](const std::string& error) {
    auto self = weak.lock();
    if (!self || self->closed) return;
    if (!error.empty()) self->dropQueued();
    self->readClients();
  };
  return gate->admitDatagrams(container_port, resume);
}

void UdpForward::State::dropQueued() {
  auto& b = batch();
  for (;;) {
    b.prepareReceive(true);
    if (::recvmmsg(socket.native_handle(), b.in.data(), Batch::kSize, MSG_DONTWAIT, nullptr) <= 0)
      return;
  }
}

void UdpForward::State::sendRun(int fd, int start, int end) {
  auto& b = batch();
  // A full socket buffer drops datagrams, as the network would: send errors are not retried.
  while (start < end) {
    // Datagrams of one size (the last may be shorter) go as one UDP GSO send: the guest's
    // network stack, NAT included, handles them once instead of once per datagram.
    const std::size_t segment = b.out_iov[start].iov_len;
    int stop = start + 1;
    std::size_t total = segment;
    if (gso && segment > 0 && segment <= kGsoMaxSegment) {
      while (stop < end && b.out_iov[stop - 1].iov_len == segment &&
             b.out_iov[stop].iov_len <= segment && total + b.out_iov[stop].iov_len <= kGsoBytes &&
             stop - start < kGsoSegments) {
        total += b.out_iov[stop].iov_len;
        ++stop;
      }
    }
    if (stop - start < 2) {
      // Mixed sizes (or GSO off): plain batches until the next run of equal sizes.
      int plain_end = gso ? start + 1 : end;
      (void)::sendmmsg(fd, b.out.data() + start, static_cast<unsigned>(plain_end - start),
                       MSG_DONTWAIT);
      start = plain_end;
      continue;
    }
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
    msghdr msg{};
    msg.msg_iov = &b.out_iov[start];
    msg.msg_iovlen = static_cast<std::size_t>(stop - start);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto size = static_cast<std::uint16_t>(segment);
    std::memcpy(CMSG_DATA(c), &size, sizeof size);
    if (::sendmsg(fd, &msg, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
        errno != ENOBUFS && errno != ECONNREFUSED) {
      // No UDP GSO here (old kernel, a device without it): datagram by datagram from now on.
      BERTH_LOG(Info, "forwarding",
                "udp segmentation offload unavailable (" << std::strerror(errno)
                                                         << "); sending datagrams singly");
      gso = false;
      continue;  // resend this run without it
    }
    start = stop;
  }
}

void UdpForward::State::onClientsReadable() {
  auto& b = batch();
  for (int round = 0; round < kRounds; ++round) {
    b.prepareReceive(true);
    int n = ::recvmmsg(socket.native_handle(), b.in.data(), Batch::kSize, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
          errno != ECONNREFUSED) {
        BERTH_LOG(Warn, "forwarding", "udp recv: " << std::strerror(errno));
      }
      break;
    }
    // Consecutive datagrams of one client leave in one sendmmsg on its flow's socket.
    std::shared_ptr<Flow> run_flow;
    int run_start = 0;
    auto flush = [&](int run_end) {
      if (run_flow && run_end > run_start) {
        sendRun(run_flow->upstream.native_handle(), run_start, run_end);
      }
    };
    for (int i = 0; i < n; ++i) {
      msghdr& msg = b.in[i].msg_hdr;
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
      auto flow = flowFor(b.addr[i], msg.msg_namelen, local);
      if (flow != run_flow) {
        flush(i);
        run_flow = flow;
        run_start = i;
      }
      if (!flow) continue;
      flow->last_active = Clock::now();
      b.setOut(i, b.in[i].msg_len, nullptr, 0, nullptr, 0);
    }
    flush(n);
    if (n < Batch::kSize) break;
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
  openSocket(netns.get(), flow->upstream, target.protocol(), ec);
  if (!ec) flow->upstream.connect(target, ec);
  if (!ec) flow->upstream.native_non_blocking(true, ec);
  if (!ec) growReceiveBuffer(flow->upstream.native_handle());
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
  auto& b = batch();
  // The control data that makes a reply leave from the address the client sent to.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  std::size_t control_len = 0;
  if (want_pktinfo && flow->local.known) {
    auto* c = reinterpret_cast<cmsghdr*>(control);
    if (flow->local.v6) {
      control_len = CMSG_SPACE(sizeof(in6_pktinfo));
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      std::memcpy(CMSG_DATA(c), &flow->local.v6info, sizeof(in6_pktinfo));
    } else {
      control_len = CMSG_SPACE(sizeof(in_pktinfo));
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo reply{};
      reply.ipi_spec_dst = flow->local.v4.ipi_addr;
      std::memcpy(CMSG_DATA(c), &reply, sizeof reply);
    }
  }
  for (int round = 0; round < kRounds; ++round) {
    b.prepareReceive(false);
    int n = ::recvmmsg(flow->upstream.native_handle(), b.in.data(), Batch::kSize, MSG_DONTWAIT,
                       nullptr);
    if (n <= 0) break;  // EAGAIN, or ECONNREFUSED: the guest port is closed (ICMP)
    flow->last_active = Clock::now();
    for (int i = 0; i < n; ++i) {
      b.setOut(i, b.in[i].msg_len, &flow->client, flow->client_len, control_len ? control : nullptr,
               control_len);
    }
    (void)::sendmmsg(socket.native_handle(), b.out.data(), static_cast<unsigned>(n), MSG_DONTWAIT);
    if (n < Batch::kSize) break;
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
