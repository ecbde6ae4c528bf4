#pragma once
// SpinGate: whether the relay's I/O threads may spin after work (runIoLoop) now, from how many
// exchanges are in flight in the whole daemon (a request read until its reply is written). A
// spin pays only while the next event is near and a core would otherwise idle: at c=1 the
// engine's reply or the client's next request comes within the window. With many exchanges in
// flight, every core is wanted by the clients and the engine, and a spinning thread takes its
// time from them (issue 19, GET /_ping c=32 on 2 cores: the spin cost 6-7% of throughput while
// it gained ~14% of latency at c=1). busy() from any thread; open() from the I/O threads.
#include <atomic>

namespace berth::net {

class SpinGate {
 public:
  // One exchange on each of two cores: beyond it, a wake-up is not what the relay waits for.
  static constexpr int kMaxBusy = 2;

  explicit SpinGate(int max_busy = kMaxBusy) : max_busy_(max_busy) {}
  // `delta`: +1 when an exchange begins, -1 when it ends.
  void busy(int delta) { busy_.fetch_add(delta, std::memory_order_relaxed); }
  bool open() const { return busy_.load(std::memory_order_relaxed) <= max_busy_; }

 private:
  const int max_busy_;
  std::atomic<int> busy_{0};
};

}  // namespace berth::net
