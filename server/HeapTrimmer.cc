#include "server/HeapTrimmer.h"

#include <malloc.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <mutex>

#include "server/ChunkCache.h"
#include "server/net/Log.h"

namespace berth::server {

namespace {

// A burst worth trimming after, while a few connections stay open (`events` watchers), or
// while the connections of a burst of exchanges stay open (docker clients keep theirs).
constexpr std::size_t kBurst = 64;
constexpr std::chrono::seconds kDelay{1};

void tuneMalloc() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Fixed thresholds (setting them stops glibc's dynamic ones): the 64 KiB buffers of an
    // exchange come from the heap and stay there between requests; bigger blocks are
    // mmapped, so they go back at free(); free heap above 16 MiB at the top still trims.
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
  });
}

}  // namespace

HeapTrimmer::HeapTrimmer(boost::asio::any_io_executor executor)
    : strand_(boost::asio::make_strand(executor)), timer_(strand_) {
  tuneMalloc();
}

bool HeapTrimmer::Gauge::update(std::size_t value, bool at_zero) {
  now = value;
  std::size_t top = peak.load(std::memory_order_relaxed);
  while (value > top && !peak.compare_exchange_weak(top, value)) {
  }
  if (value > top) return false;
  return (at_zero && value == 0 && top > 0) || (top >= kBurst && value * 4 <= top);
}

void HeapTrimmer::connectionCount(std::size_t live) {
  if (live_.update(live, true)) trimSoon();
}

void HeapTrimmer::busyCount(std::size_t busy) {
  // Not at zero: one client's requests one after another take and give back the same
  // buffers, and leave nothing behind worth a trim.
  if (busy_.update(busy, false)) trimSoon();
}

void HeapTrimmer::trimSoon() {
  if (scheduled_.exchange(true)) return;
  boost::asio::post(strand_, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->timer_.expires_after(kDelay);
    self->timer_.async_wait([weak](boost::system::error_code ec) {
      auto trimmer = weak.lock();
      if (ec || !trimmer) return;
      trimmer->live_.peak = trimmer->live_.now.load();
      trimmer->busy_.peak = trimmer->busy_.now.load();
      trimmer->scheduled_ = false;
      ChunkCache::release();  // the chunks it keeps are part of what the burst left behind
      malloc_trim(0);
      ++trimmer->trims_;
      BERTH_LOG(Debug, "server",
                "heap trimmed (" << trimmer->live_.now.load() << " connections open)");
    });
  });
}

}  // namespace berth::server
