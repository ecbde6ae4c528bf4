#include <gtest/gtest.h>

#include "server/RelayConfig.h"
#include "server/net/IoLoop.h"
#include "vm/ProfileConfig.h"

namespace berth::server {
namespace {

// berth.yaml's relay section and `berth daemon`'s flags start from the same values.
TEST(RelayDefaultsTest, ProfileConfigMatchesTheDaemonDefaults) {
  const vm::ProfileConfig config = vm::ProfileConfig::defaults();
  const RelayLimits limits;
  EXPECT_EQ(config.relay.spin_micros, net::kDefaultSpin.count());
  EXPECT_EQ(static_cast<std::size_t>(config.relay.max_connections), limits.max_connections);
  EXPECT_EQ(config.relayHeadTimeoutMillis(),
            std::chrono::duration_cast<std::chrono::milliseconds>(limits.head_timeout).count());
}

}  // namespace
}  // namespace berth::server
