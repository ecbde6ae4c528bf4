#include "server/net/IoLoop.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <thread>

namespace berth::net {

namespace {

// Whether a spin takes no thread's core: the kernel's count of runnable threads (the fourth
// field of /proc/loadavg, "running/total", the spinning caller included) is at most the cores'
// (at c=1 the relay spins on one core while the engine answers on the other).
// A spin only pays while a core would otherwise idle; with every core wanted (32 busy clients
// and the engine on 2 cores) it takes the time from the threads the relay waits for, and it
// keeps its core from looking idle to the kernel's load balancer (issue 19: the spin cost 8%
// at c=32 and gained 14% at c=1). Read at most once per millisecond (a read costs ~2 us).
class CoreRoom {
 public:
  CoreRoom() : fd_(::open("/proc/loadavg", O_RDONLY | O_CLOEXEC)) {
    cores_ = static_cast<int>(std::thread::hardware_concurrency());
  }
  ~CoreRoom() {
    if (fd_ >= 0) ::close(fd_);
  }
  CoreRoom(const CoreRoom&) = delete;
  CoreRoom& operator=(const CoreRoom&) = delete;

  bool free(std::chrono::steady_clock::time_point now) {
    if (now - read_at_ < std::chrono::milliseconds(1)) return free_;
    read_at_ = now;
    free_ = runnable() <= cores_ || cores_ <= 0;
    return free_;
  }

 private:
  // The runnable threads, counting the caller; 0 when unknown (the spin is then allowed).
  int runnable() const {
    if (fd_ < 0) return 0;
    char buf[128];
    const ssize_t n = ::pread(fd_, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    return runnableThreads(std::string_view(buf, static_cast<std::size_t>(n)));
  }

  int fd_;
  int cores_ = 0;
  std::chrono::steady_clock::time_point read_at_{};
  bool free_ = true;
};

}  // namespace

int runnableThreads(std::string_view loadavg) {
  // "0.50 0.40 0.30 3/441 1234": the digits right before the first '/'.
  const auto slash = loadavg.find('/');
  if (slash == std::string_view::npos) return 0;
  std::size_t start = slash;
  while (start > 0 && loadavg[start - 1] >= '0' && loadavg[start - 1] <= '9') --start;
  int count = 0;
  for (std::size_t i = start; i < slash && count < 1'000'000; ++i)
    count = count * 10 + (loadavg[i] - '0');
  return count;
}

void runIoLoop(boost::asio::io_context& io, std::chrono::microseconds spin, const SpinGate* gate) {
  if (spin.count() <= 0) {
    io.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  CoreRoom room;
  auto last_work = Clock::now();
  while (!io.stopped()) {
    // poll() runs ready handlers and checks the reactor without blocking; it stops the
    // io_context (like run()) once no work is left.
    if (io.poll() > 0) {
      last_work = Clock::now();
      continue;
    }
    if (io.stopped()) break;
    const auto now = Clock::now();
    if (now - last_work < spin && (gate == nullptr || gate->open()) && room.free(now)) {
      // Give way to anything runnable on this core (the client, the engine): spinning must
      // only use time nobody else wants.
      sched_yield();
      continue;
    }
    if (io.run_one() == 0) break;  // sleeps until the next event
    last_work = Clock::now();
  }
}

}  // namespace berth::net
