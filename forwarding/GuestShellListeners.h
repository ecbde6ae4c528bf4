#pragma once
// GuestShellListeners: the TCP ports listening in a guest that berth cannot enter (a VM), read
// from one long-lived command that runs GuestWatchScript's loop in the guest (qemu: `ssh` to the
// guest; the argv is the driver's), which prints the guest's LISTEN rows when they change (and,
// for a containerd guest, its CNI hostPort rules: see GuestWatchScript). Its output is read
// asynchronously on the strand (never a blocking read) by a GuestWatchOutput, which says which
// listeners to report and how Options filters them; each table is reported at once and then
// again every `every` until the next one, as a poll would. A command that ends or cannot start
// is run again after a back-off (1 s doubling to 30 s, back to 1 s once a table came), and
// OnState says so; nothing is reported meanwhile. start()/stop() and the callbacks run on the
// given strand; not thread-safe.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "forwarding/GuestWatchOutput.h"
#include "forwarding/ListenerSource.h"
#include "server/net/ChildProcess.h"

namespace berth::fwd {

class GuestShellListeners : public ListenerSource,
                            public std::enable_shared_from_this<GuestShellListeners> {
 public:
  static constexpr std::chrono::seconds kFirstRetry{1};
  static constexpr std::chrono::seconds kLastRetry{30};

  struct Options {
    std::vector<std::string> argv;  // runs GuestWatchScript::script() in the guest
    GuestWatchOutput::Filter filter;
  };
  // `why` is "" when a table came (on), else why none comes now and when it is tried again.
  using OnState = std::function<void(bool on, const std::string& why)>;

  GuestShellListeners(boost::asio::any_io_executor strand, Options options, OnPoll on_poll,
                      OnState on_state, std::chrono::milliseconds every = std::chrono::seconds(1));
  ~GuestShellListeners() override;
  GuestShellListeners(const GuestShellListeners&) = delete;
  GuestShellListeners& operator=(const GuestShellListeners&) = delete;

  // Runs the command; false (and why in `error`) when it cannot be started at all.
  bool start(std::string& error) override;
  // Ends the command (KILL: it holds nothing but a session); no callback runs after it.
  void stop() override;

 private:
  void run(std::string& error);
  void read();
  void ended(const std::string& why);
  void endCommand();
  // Reports last_ now and every every_ until the next table or the end of the command.
  void report();

  boost::asio::any_io_executor strand_;
  Options options_;
  OnPoll on_poll_;
  OnState on_state_;
  boost::asio::posix::stream_descriptor output_;
  std::chrono::milliseconds every_;
  boost::asio::steady_timer retry_;
  boost::asio::steady_timer repeat_;
  GuestWatchOutput watch_;  // the command's output so far
  std::optional<net::ChildProcess> command_;
  std::array<char, 4096> chunk_{};
  std::string pending_;  // output after the last newline
  std::chrono::seconds backoff_ = kFirstRetry;
  bool stopped_ = true;
};

}  // namespace berth::fwd
