#include <gtest/gtest.h>

#include "vm/MountsAnywhere.h"

namespace berth::vm {
namespace {

constexpr const char* kMountInfo =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "36 22 8:1 /data /srv/g/share rw - ext4 /dev/sda1 rw\n"
    "37 22 0:5 / /mnt/with\\040space rw - tmpfs tmpfs rw\n"
    "38 22 0:6 / /srv/g-other rw - tmpfs tmpfs rw";  // no final newline

TEST(MountsAnywhere, FindsAMountAtOrBelowAFolder) {
  const auto mounts = MountsAnywhere::parse(kMountInfo);
  EXPECT_TRUE(mounts.atOrBelow("/srv/g/share"));
  EXPECT_TRUE(mounts.atOrBelow("/srv/g"));
  EXPECT_TRUE(mounts.atOrBelow("/srv"));
  EXPECT_FALSE(mounts.atOrBelow("/srv/g/share/sub"));
  EXPECT_FALSE(mounts.atOrBelow("/srv/g-"));  // a sibling's prefix is not below
  EXPECT_TRUE(mounts.atOrBelow("/srv/g-other"));
  EXPECT_FALSE(mounts.atOrBelow("/srv/h"));
}

TEST(MountsAnywhere, DecodesOctalEscapes) {
  const auto mounts = MountsAnywhere::parse(kMountInfo);
  EXPECT_TRUE(mounts.atOrBelow("/mnt/with space"));
  EXPECT_FALSE(mounts.atOrBelow("/mnt/with\\040space"));
}

TEST(MountsAnywhere, ScanSeesThisProcesssRoot) {
  EXPECT_TRUE(MountsAnywhere::scan().atOrBelow("/proc"));
}

}  // namespace
}  // namespace berth::vm
