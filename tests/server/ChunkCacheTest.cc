#include <gtest/gtest.h>

#include <vector>

#include "server/ChunkCache.h"

namespace berth::server {
namespace {

constexpr std::size_t kChunk = std::size_t{64} * 1024;

class ChunkCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { ChunkCache::setBlockSize(kChunk); }
  void TearDown() override { ChunkCache::release(); }
};

TEST_F(ChunkCacheTest, AGivenChunkIsTheNextOneTaken) {
  void* first = ChunkCache::take(kChunk);
  ChunkCache::give(first, kChunk);
  EXPECT_EQ(ChunkCache::cached(), 1u);
  EXPECT_EQ(ChunkCache::take(kChunk), first);
  EXPECT_EQ(ChunkCache::cached(), 0u);
  ChunkCache::give(first, kChunk);
}

TEST_F(ChunkCacheTest, OtherSizesAreNeverCachedNorHandedOut) {
  void* small = ChunkCache::take(4096);
  ChunkCache::give(small, 4096);
  EXPECT_EQ(ChunkCache::cached(), 0u);
  void* chunk = ChunkCache::take(kChunk);
  ChunkCache::give(chunk, kChunk);
  void* other = ChunkCache::take(kChunk / 2);  // a cached block is too big for it: not reused
  EXPECT_NE(other, chunk);
  EXPECT_EQ(ChunkCache::cached(), 1u);
  ChunkCache::give(other, kChunk / 2);
}

TEST_F(ChunkCacheTest, HoldsAtMostItsBoundAndReleaseEmptiesIt) {
  std::vector<void*> blocks;
  blocks.reserve(ChunkCache::kMaxBlocks + 5);
  for (std::size_t i = 0; i < ChunkCache::kMaxBlocks + 5; ++i)
    blocks.push_back(ChunkCache::take(kChunk));
  for (void* block : blocks) ChunkCache::give(block, kChunk);
  EXPECT_EQ(ChunkCache::cached(), ChunkCache::kMaxBlocks);
  EXPECT_EQ(ChunkCache::release(), ChunkCache::kMaxBlocks * kChunk);
  EXPECT_EQ(ChunkCache::cached(), 0u);
}

TEST_F(ChunkCacheTest, ANewBlockSizeDropsWhatWasCached) {
  ChunkCache::give(ChunkCache::take(kChunk), kChunk);
  ASSERT_EQ(ChunkCache::cached(), 1u);
  ChunkCache::setBlockSize(kChunk * 2);
  EXPECT_EQ(ChunkCache::cached(), 0u);
  void* block = ChunkCache::take(kChunk * 2);
  ChunkCache::give(block, kChunk * 2);
  EXPECT_EQ(ChunkCache::cached(), 1u);
  ChunkCache::setBlockSize(kChunk);
}

TEST_F(ChunkCacheTest, AFlatBufferReservedToTheChunkSizeReusesCachedChunks) {
  void* seen = nullptr;
  {
    RelayBuffer buffer;
    buffer.reserve(kChunk);
    seen = buffer.data().data();
    buffer.shrink_to_fit();  // empty: gives the chunk back
  }
  RelayBuffer again;
  again.reserve(kChunk);
  EXPECT_EQ(again.prepare(16).data(), seen);
}

}  // namespace
}  // namespace berth::server
