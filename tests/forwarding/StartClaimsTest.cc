#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "forwarding/StartClaims.h"

namespace berth::fwd {
namespace {

// Counts the listeners still alive: a claim that ends closes (destroys) what it held.
struct CountedListener : Listener {
  explicit CountedListener(int& live) : live_(live) { ++live_; }
  ~CountedListener() override { --live_; }
  int& live_;
};

ForwardSpec spec(const std::string& container, std::uint16_t port,
                 const std::string& bind_ip = "127.0.0.1") {
  ForwardSpec s;
  s.proto = "tcp";
  s.bind_ip = bind_ip;
  s.host_port = port;
  s.guest_port = port;
  s.container_port = 80;
  s.container_id = container;
  s.container_name = container;
  return s;
}

class StartClaimsTest : public ::testing::Test {
 protected:
  StartClaims::Claimed claimed(const std::vector<ForwardSpec>& specs) {
    StartClaims::Claimed out;
    for (const auto& s : specs) out.emplace_back(s, std::make_unique<CountedListener>(live));
    return out;
  }
  boost::asio::io_context io;
  StartClaims claims{boost::asio::make_strand(io)};
  int live = 0;
};

TEST_F(StartClaimsTest, TheStartedContainersForwardTakesItsListener) {
  claims.add(claimed({spec("c1", 8080), spec("c1", 8080, "::1")}), std::chrono::seconds(60));
  EXPECT_TRUE(claims.holds(spec("c1", 8080).key()));
  auto taken = claims.take(spec("c1", 8080));
  ASSERT_TRUE(taken);
  EXPECT_FALSE(claims.holds(spec("c1", 8080).key()));
  EXPECT_TRUE(claims.holds(spec("c1", 8080, "::1").key()));
  EXPECT_EQ(live, 2);  // one taken, one still claimed
  taken.reset();
  EXPECT_EQ(live, 1);
  EXPECT_FALSE(claims.take(spec("c1", 9090)));  // nothing claimed there
}

TEST_F(StartClaimsTest, AnotherForwardOfTheSamePortDropsTheClaim) {
  claims.add(claimed({spec("c1", 8080)}), std::chrono::seconds(60));
  auto other = spec("c2", 8080);
  EXPECT_FALSE(claims.take(other));  // the caller binds afresh: the port is free again
  EXPECT_EQ(live, 0);
  EXPECT_FALSE(claims.holds(other.key()));
}

TEST_F(StartClaimsTest, ReleaseAndExpiryCloseWhatAClaimHeld) {
  auto failed = claims.add(claimed({spec("c1", 8080)}), std::chrono::seconds(60));
  auto silent = claims.add(claimed({spec("c2", 8081)}), std::chrono::seconds(60));
  claims.release(failed);
  EXPECT_EQ(live, 1);
  claims.expireAfter(silent, std::chrono::milliseconds(10));
  io.run_for(std::chrono::seconds(2));
  EXPECT_EQ(live, 0);
  EXPECT_FALSE(claims.holds(spec("c2", 8081).key()));
}

TEST_F(StartClaimsTest, AnExpiryMovedLaterKeepsTheClaim) {
  auto id = claims.add(claimed({spec("c1", 8080)}), std::chrono::milliseconds(10));
  claims.expireAfter(id, std::chrono::seconds(60));  // the engine answered: a new deadline
  io.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(live, 1);
  claims.clear();
  EXPECT_EQ(live, 0);
}

}  // namespace
}  // namespace berth::fwd
