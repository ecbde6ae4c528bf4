#pragma once
// ProcessHolds: holds that last exactly as long as a process lives. `berth ssh`, `berth ctr`
// and `berth nerdctl` run their tool in the guest without any connection to the daemon's
// sockets; each registers a hold on its own pid (POST /hold?pid=N) so idle stop waits for it.
// A hold is a pidfd (pidfd_open) watched for read readiness, which the kernel signals when the
// process exits (reaped or not): no polling, and a recycled pid can never extend a hold.
// add() and stop() run on the thread that runs the io_context (the daemon's one control
// thread); count() may be read from any thread. `on_change` runs on that thread after each
// change of count(), with the new count. Destroy it once its io_context runs no more handlers.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <list>
#include <optional>
#include <string_view>

namespace berth::server {

class ProcessHolds {
 public:
  ProcessHolds(boost::asio::io_context& io, std::function<void(int count)> on_change);
  ~ProcessHolds();
  ProcessHolds(const ProcessHolds&) = delete;
  ProcessHolds& operator=(const ProcessHolds&) = delete;

  // The pid a query value names: digits only, 1 or more; nullopt otherwise.
  static std::optional<int> parsePid(std::string_view text);
  // Holds until process `pid` exits. Throws std::invalid_argument with one line, holding
  // nothing, when `pid` is not positive or names no process.
  void add(int pid);
  // Live holds (a process held twice counts twice).
  int count() const { return count_.load(); }
  // Drops every hold without calling on_change (the daemon is going away).
  void stop();

 private:
  void ended(std::list<boost::asio::posix::stream_descriptor>::iterator hold);

  boost::asio::io_context& io_;
  std::function<void(int)> on_change_;
  std::list<boost::asio::posix::stream_descriptor> pidfds_;
  std::atomic<int> count_{0};
  bool stopped_ = false;
};

}  // namespace berth::server
