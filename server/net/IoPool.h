#pragma once
// IoPool: the threads that serve relay connections. The daemon's own io_context (run by the
// thread that calls runIoLoop on it) plus `threads - 1` more, each with an io_context of its
// own run by one thread. place() puts each new connection on one of them, round-robin, for its
// whole life: a connection's handlers always run on one thread, so it needs no strand, and
// every io_context keeps Asio's one-thread fast path (handlers posted from its thread are
// queued without waking the reactor). Why more than one: at 32 busy clients on 2 cores, the
// kernel shares the CPU per thread, and one relay thread among the clients' and the engine's
// threads gets too little of it (issue 19; HAProxy runs one thread per core).
// State the connections share (the session registry, gates, caches, counters) is thread-safe.
// start()/stop() from the thread that owns the daemon; place() from any thread.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "server/net/SpinGate.h"

namespace berth::net {

class IoPool {
 public:
  // `threads` counts the main io_context's thread (1: every connection runs on `main`).
  // `spin` and `gate` (may be null; outlives the pool) are each extra thread's post-work poll
  // (runIoLoop).
  IoPool(boost::asio::io_context& main, int threads, std::chrono::microseconds spin,
         const SpinGate* gate = nullptr);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // Runs the extra threads.
  void start();
  // Ends them: their io_contexts stop (operations in flight are abandoned, as when the main
  // io_context stops) and the threads are joined. The contexts, and the connections' state
  // their pending handlers own, are destroyed with the pool.
  void stop();
  // The executor the next connection runs on.
  boost::asio::any_io_executor place();
  int threads() const { return static_cast<int>(extra_.size()) + 1; }

  // Threads the daemon serves connections with when not told: one per core, at most 2 (the
  // benchmark's gain; more threads share one engine and cost memory per malloc arena).
  static int defaultThreads();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  struct Extra {
    boost::asio::io_context io{1};
    std::unique_ptr<Guard> guard;  // keeps run() going while no connection is placed here
    std::thread thread;
  };

  boost::asio::io_context& main_;
  std::chrono::microseconds spin_;
  const SpinGate* gate_;
  std::vector<std::unique_ptr<Extra>> extra_;
  std::atomic<unsigned> next_{0};
};

}  // namespace berth::net
