#include "server/ChunkCache.h"

#include <array>
#include <mutex>
#include <new>

namespace berth::server {
namespace {

struct Cache {
  std::mutex mutex;
  std::size_t size = 0;  // the one block size cached; 0: none
  std::size_t count = 0;
  std::array<void*, ChunkCache::kMaxBlocks> blocks{};
};

Cache& cache() {
  static Cache* instance = new Cache;  // never destroyed: blocks may be given back at exit
  return *instance;
}

// Takes every cached block out (the caller holds the mutex), to be freed after unlocking.
std::size_t takeAll(Cache& c, std::array<void*, ChunkCache::kMaxBlocks>& out) {
  const std::size_t count = c.count;
  for (std::size_t i = 0; i < count; ++i) out[i] = c.blocks[i];
  c.count = 0;
  return count;
}

}  // namespace

void* ChunkCache::take(std::size_t bytes) {
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    if (c.count > 0 && c.size == bytes) return c.blocks[--c.count];
  }
  return ::operator new(bytes);
}

void ChunkCache::give(void* block, std::size_t bytes) noexcept {
  if (block == nullptr) return;
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    if (c.size == bytes && c.count < kMaxBlocks) {
      c.blocks[c.count++] = block;
      return;
    }
  }
  ::operator delete(block);
}

void ChunkCache::setBlockSize(std::size_t bytes) noexcept {
  Cache& c = cache();
  std::array<void*, kMaxBlocks> blocks{};
  std::size_t count = 0;
  {
    std::lock_guard lock(c.mutex);
    count = takeAll(c, blocks);
    c.size = bytes;
  }
  for (std::size_t i = 0; i < count; ++i) ::operator delete(blocks[i]);
}

std::size_t ChunkCache::release() noexcept {
  Cache& c = cache();
  std::array<void*, kMaxBlocks> blocks{};
  std::size_t count = 0;
  std::size_t size = 0;
  {
    std::lock_guard lock(c.mutex);
    count = takeAll(c, blocks);
    size = c.size;
  }
  for (std::size_t i = 0; i < count; ++i) ::operator delete(blocks[i]);
  return count * size;
}

std::size_t ChunkCache::cached() noexcept {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  return c.count;
}

}  // namespace berth::server
