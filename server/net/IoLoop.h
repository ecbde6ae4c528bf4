#pragma once
// runIoLoop: io_context::run() on the calling thread, except that after each burst of work the
// thread keeps polling for `spin` before it sleeps in epoll_wait. A relay hop costs two extra
// wake-ups per request; on a VM a wake-up of a sleeping thread costs tens of microseconds, so a
// short spin while traffic flows cuts the latency a small request gains by about 30% (README,
// Performance).
// An idle daemon never spins: the window opens only after work ran, only while `gate` (if any)
// is open, and only while no thread waits for a core (runnableThreads); spin == 0 is plain run().
// Returns when the io_context is stopped or runs out of work, as run() does.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string_view>

#include "server/net/SpinGate.h"

namespace berth::net {

// Off by default: in the relay benchmark a 50 us spin (long enough to catch a local engine's
// reply, ~20-40 us here) lost to no spin on 4 to 6 of its 6 rows in each of the last two
// quiet runs, since its core is the one the clients and the engine wait for (README,
// Performance). `--spin-us` / `relay.spinMicros` still turn it on.
inline constexpr std::chrono::microseconds kDefaultSpin{0};

void runIoLoop(boost::asio::io_context& io, std::chrono::microseconds spin,
               const SpinGate* gate = nullptr);

// The kernel's count of runnable threads in the text of /proc/loadavg (its fourth field,
// "running/total"); 0 when the text has none. Exposed for tests.
int runnableThreads(std::string_view loadavg);

}  // namespace berth::net
