#pragma once
// HeapTrimmer: gives the memory a burst of relay connections freed back to the system
// (issue 19). glibc keeps freed heap memory for reuse, and its automatic trim is turned off
// here (so that per-exchange buffers do not go back and forth through brk on every request):
// a second after the live connection count falls to zero, or to a quarter of its peak since
// the last trim, or the count of connections holding exchange buffers falls to a quarter of a
// burst (connections kept open after many exchanges at once), malloc_trim(0) runs once, on
// the executor, never on a connection's path.
// Thread-safe: connectionCount() and busyCount() may be called from any thread.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cstddef>
#include <memory>

namespace berth::server {

class HeapTrimmer : public std::enable_shared_from_this<HeapTrimmer> {
 public:
  explicit HeapTrimmer(boost::asio::any_io_executor executor);
  // Reports the live connection count after a change.
  void connectionCount(std::size_t live);
  // Reports how many connections hold exchange buffers (an exchange in flight) after a change.
  void busyCount(std::size_t busy);
  // How many times the heap was trimmed (for tests and logs).
  std::size_t trims() const { return trims_; }

 private:
  // A count and its peak since the last trim.
  struct Gauge {
    std::atomic<std::size_t> now{0};
    std::atomic<std::size_t> peak{0};
    // Records `value`; true if it ended a burst (fell to a quarter of a peak >= kBurst), or,
    // with `at_zero`, fell to zero.
    bool update(std::size_t value, bool at_zero);
  };
  void trimSoon();

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  boost::asio::steady_timer timer_;
  Gauge live_;
  Gauge busy_;
  std::atomic<bool> scheduled_{false};
  std::atomic<std::size_t> trims_{0};
};

}  // namespace berth::server
