#pragma once
// HeapTrimmer: gives the memory a burst of relay connections freed back to the system
// (issue 19). glibc keeps freed heap memory for reuse, and its automatic trim is turned off
// here (so that per-exchange buffers do not go back and forth through brk on every request):
// a second after the live connection count falls to zero, or to a quarter of its peak since
// the last trim, malloc_trim(0) runs once, on the executor, never on a connection's path.
// Thread-safe: connectionCount() may be called from any thread.
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
  // How many times the heap was trimmed (for tests and logs).
  std::size_t trims() const { return trims_; }

 private:
  void trimSoon();

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  boost::asio::steady_timer timer_;
  std::atomic<std::size_t> live_{0};
  std::atomic<std::size_t> peak_{0};
  std::atomic<bool> scheduled_{false};
  std::atomic<std::size_t> trims_{0};
};

}  // namespace berth::server
