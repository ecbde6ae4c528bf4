#include <gtest/gtest.h>

#include "server/net/Digest.h"

namespace berth::net {
namespace {

TEST(DigestTest, HexIsLowercaseTwoDigitsPerByte) {
  const unsigned char bytes[] = {0x00, 0x0f, 0xa0, 0xff};
  EXPECT_EQ(Digest::hex(bytes, sizeof bytes), "000fa0ff");
  EXPECT_EQ(Digest::hex(bytes, 0), "");
}

// FIPS 180-2's test vectors: docker context folders and cached file checks depend on these.
TEST(DigestTest, Sha256HexMatchesTheStandardVectors) {
  EXPECT_EQ(Digest::sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Digest::sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace berth::net
