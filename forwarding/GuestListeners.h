#pragma once
// GuestListeners: the TCP ports listening in the guest's network namespace on a wildcard or
// loopback address (a `--network host` container, a service started with `berth ssh`), read
// from the kernel's socket table with netlink sock_diag (IPv4 and IPv6) every `every` (a second
// by default); the set is reported after every poll (a time-based exclusion may end without a
// change). The netlink socket is made inside the namespace once (GuestNetns), so a poll is a few
// non-blocking syscalls on the strand and never waits. A source for any runtime whose guest is a
// network namespace (docker and containerd alike). With `cni_hostports` the CNI hostPort
// mappings of the namespace's nat table (GuestCniHostports, read every kCniEvery at most: a read
// is a child process) are reported too, as listeners on their host IP (0.0.0.0 for any): portmap
// DNATs them in PREROUTING and OUTPUT, so a forward to the guest's address (or, for a
// 127.0.0.1 host IP, to its loopback from inside the namespace) reaches the container. TCP
// and UDP mappings (ListeningSocket::protocol); the sockets themselves are TCP only. A
// ListenerSource. start()/stop() and the callback run on the given strand; not thread-safe.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "forwarding/ListenerSource.h"
#include "forwarding/SockDiag.h"

namespace berth::fwd {

class GuestNetns;
class GuestCniHostports;

class GuestListeners : public ListenerSource, public std::enable_shared_from_this<GuestListeners> {
 public:
  static constexpr std::chrono::seconds kPollEvery{1};
  static constexpr std::chrono::seconds kCniEvery{1};
  GuestListeners(boost::asio::any_io_executor strand, std::shared_ptr<const GuestNetns> netns,
                 OnPoll on_poll,
                 std::chrono::milliseconds every = std::chrono::milliseconds(kPollEvery),
                 bool cni_hostports = false);
  ~GuestListeners() override;
  GuestListeners(const GuestListeners&) = delete;
  GuestListeners& operator=(const GuestListeners&) = delete;

  // Opens the netlink socket in the guest's namespace and polls; false (and why in `error`)
  // when the socket cannot be made.
  bool start(std::string& error) override;
  void stop() override;

 private:
  void poll();
  // One family's listeners appended to `out`; false when the dump failed.
  bool dump(int family, std::vector<ListeningSocket>& out);
  // The last CNI hostPorts read, appended to `out` as listeners; a new read when one is due.
  void addCniHostports(std::vector<ListeningSocket>& out);

  boost::asio::any_io_executor strand_;
  std::shared_ptr<const GuestNetns> netns_;
  OnPoll on_poll_;
  std::chrono::milliseconds every_;
  boost::asio::steady_timer timer_;
  int fd_ = -1;
  std::uint32_t sequence_ = 0;
  std::shared_ptr<GuestCniHostports> cni_;  // null unless `cni_hostports`
  std::chrono::steady_clock::time_point cni_read_at_{};
};

}  // namespace berth::fwd
