#include "server/net/IoPool.h"

#include <algorithm>

#include "server/net/IoLoop.h"

namespace berth::net {

IoPool::IoPool(boost::asio::io_context& main, int threads, std::chrono::microseconds spin,
               const SpinGate* gate)
    : main_(main), spin_(spin), gate_(gate) {
  for (int i = 1; i < threads; ++i) extra_.push_back(std::make_unique<Extra>());
}

IoPool::~IoPool() { stop(); }

void IoPool::start() {
  for (auto& e : extra_) {
    if (e->thread.joinable()) continue;
    e->guard = std::make_unique<Guard>(e->io.get_executor());
    e->thread =
        std::thread([io = &e->io, spin = spin_, gate = gate_] { runIoLoop(*io, spin, gate); });
  }
}

void IoPool::stop() {
  for (auto& e : extra_) {
    if (!e->thread.joinable()) continue;
    e->guard.reset();
    e->io.stop();
    e->thread.join();
  }
}

boost::asio::any_io_executor IoPool::place() {
  if (extra_.empty()) return main_.get_executor();
  const unsigned n = next_.fetch_add(1, std::memory_order_relaxed) % (extra_.size() + 1);
  if (n == 0) return main_.get_executor();
  return extra_[n - 1]->io.get_executor();
}

int IoPool::defaultThreads() {
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1U, 2U));
}

}  // namespace berth::net
