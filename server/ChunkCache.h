#pragma once
// ChunkCache: a few freed relay chunks kept for the next exchange. A kept-alive connection
// takes four 64 KiB blocks per exchange (the client and engine read buffers and the two body
// chunks) and gives them back when it idles (issue 19: an idle connection holds no buffer).
// Through malloc, each of those frees also makes glibc consolidate its fast bins: callgrind
// put malloc and free at ~30% of berth's instructions per keep-alive `/_ping`. The cache holds
// at most kMaxBlocks blocks of the size setBlockSize() named (the relay's chunk size; other
// sizes, and every size before that call, go straight to the heap), so it pins at most 2 MiB
// with 64 KiB chunks: 32 busy connections' worth of an exchange's read buffers (a connection
// takes three for a request without a body); release() empties it (HeapTrimmer, after a burst).
// Thread-safe (one uncontended mutex: the relay runs on one I/O thread by default).
#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>
#include <memory>

namespace berth::server {

class ChunkCache {
 public:
  static constexpr std::size_t kMaxBlocks = 32;

  // The one block size worth caching; a change frees what was cached.
  static void setBlockSize(std::size_t bytes) noexcept;
  // A block of `bytes` (not zeroed): a cached one when it holds that size, else a new one.
  static void* take(std::size_t bytes);
  // Gives back a block from take(): cached when there is room and the size matches, else freed.
  static void give(void* block, std::size_t bytes) noexcept;
  // Frees every cached block; returns how many bytes that was.
  static std::size_t release() noexcept;
  // Blocks cached now (for tests).
  static std::size_t cached() noexcept;
};

// An allocator drawing on the cache, for beast::basic_flat_buffer (whose reserve(n) asks for
// exactly n bytes, so a buffer reserved to the chunk size reuses cached chunks).
template <class T>
struct ChunkAllocator {
  using value_type = T;
  ChunkAllocator() noexcept = default;
  template <class U>
  ChunkAllocator(const ChunkAllocator<U>& /*other*/) noexcept {}  // NOLINT: rebinding converts
  T* allocate(std::size_t n) { return static_cast<T*>(ChunkCache::take(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { ChunkCache::give(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const ChunkAllocator<U>& /*other*/) const noexcept {
    return true;
  }
};

// The relay's read buffers: reserved to the chunk size, which the cache keeps for reuse.
using RelayBuffer = boost::beast::basic_flat_buffer<ChunkAllocator<char>>;

// A body chunk owned by one exchange; given back to the cache when reset or destroyed.
struct ChunkDeleter {
  std::size_t bytes = 0;
  void operator()(char* block) const noexcept { ChunkCache::give(block, bytes); }
};
using ChunkPtr = std::unique_ptr<char[], ChunkDeleter>;
inline ChunkPtr makeChunk(std::size_t bytes) {
  return ChunkPtr(static_cast<char*>(ChunkCache::take(bytes)), ChunkDeleter{bytes});
}

}  // namespace berth::server
