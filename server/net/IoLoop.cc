#include "server/net/IoLoop.h"

#include <sched.h>

namespace berth::net {

void runIoLoop(boost::asio::io_context& io, std::chrono::microseconds spin) {
  if (spin.count() <= 0) {
    io.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  auto last_work = Clock::now();
  while (!io.stopped()) {
    // poll() runs ready handlers and checks the reactor without blocking; it stops the
    // io_context (like run()) once no work is left.
    if (io.poll() > 0) {
      last_work = Clock::now();
      continue;
    }
    if (io.stopped()) break;
    if (Clock::now() - last_work < spin) {
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
