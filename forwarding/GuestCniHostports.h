#pragma once
// GuestCniHostports: keeps the CNI hostPort mappings of a guest network namespace (the ns
// driver's) up to date for GuestListeners: refresh() runs `nsenter --net=NETNS iptables-save -t
// nat` and, once its output has ended, parses it (CniHostports) into last(). iptables-save, not
// an in-process netlink read, because portmap writes its rules through the iptables binary and
// only that binary reads them back the same on both its backends (nft and legacy).
// A run takes about 30 ms of wall time (16 ms of CPU) on the test machine, too long to block the
// strand: it is a child process whose output is read asynchronously, at most one at a time, and
// one still running after kTimeout is killed at the next refresh() (last() is kept meanwhile).
// A run that fails keeps last() too, and is logged once per distinct failure. refresh(), stop()
// and last() run on the given strand; not thread-safe.
#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "forwarding/CniHostports.h"
#include "server/net/ChildProcess.h"

namespace berth::fwd {

class GuestCniHostports : public std::enable_shared_from_this<GuestCniHostports> {
 public:
  static constexpr std::chrono::seconds kTimeout{5};

  // `netns`: the guest's network namespace file (/var/run/netns/NAME, /proc/PID/ns/net).
  GuestCniHostports(boost::asio::any_io_executor strand, std::string netns);
  ~GuestCniHostports();
  GuestCniHostports(const GuestCniHostports&) = delete;
  GuestCniHostports& operator=(const GuestCniHostports&) = delete;

  // Starts a run unless one is under way (one past kTimeout is killed and a new one started).
  void refresh();
  // The mappings of the last run that succeeded; none before the first.
  const std::vector<CniHostport>& last() const { return last_; }
  // Kills a run under way; refresh() may start again later.
  void stop();

 private:
  void read();
  void finished();
  void endRun();

  boost::asio::any_io_executor strand_;
  std::string netns_;
  boost::asio::posix::stream_descriptor output_;
  std::optional<net::ChildProcess> run_;
  std::chrono::steady_clock::time_point started_;
  std::array<char, std::size_t{16} * 1024> chunk_{};
  std::string text_;
  std::string last_error_;
  std::vector<CniHostport> last_;
};

}  // namespace berth::fwd
