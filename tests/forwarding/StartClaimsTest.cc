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
    for (const auto& s : specs) out.emplace_back(s, std::make_unique<CountedListener>(live_));
    return out;
  }
  boost::asio::io_context io_;
  StartClaims claims_{boost::asio::make_strand(io_)};
  int live_ = 0;
};

TEST_F(StartClaimsTest, TheStartedContainersForwardTakesItsListener) {
  claims_.add(claimed({spec("c1", 8080), spec("c1", 8080, "::1")}), std::chrono::seconds(60));
  EXPECT_TRUE(claims_.holds(spec("c1", 8080).key()));
  auto taken = claims_.take(spec("c1", 8080));
  ASSERT_TRUE(taken);
  EXPECT_FALSE(claims_.holds(spec("c1", 8080).key()));
  EXPECT_TRUE(claims_.holds(spec("c1", 8080, "::1").key()));
  EXPECT_EQ(live_, 2);  // one taken, one still claimed
  taken.reset();
  EXPECT_EQ(live_, 1);
  EXPECT_FALSE(claims_.take(spec("c1", 9090)));  // nothing claimed there
}

TEST_F(StartClaimsTest, AnotherForwardOfTheSamePortDropsTheClaim) {
  claims_.add(claimed({spec("c1", 8080)}), std::chrono::seconds(60));
  auto other = spec("c2", 8080);
  EXPECT_FALSE(claims_.take(other));  // the caller binds afresh: the port is free again
  EXPECT_EQ(live_, 0);
  EXPECT_FALSE(claims_.holds(other.key()));
}

TEST_F(StartClaimsTest, ReleaseAndExpiryCloseWhatAClaimHeld) {
  auto failed = claims_.add(claimed({spec("c1", 8080)}), std::chrono::seconds(60));
  auto silent = claims_.add(claimed({spec("c2", 8081)}), std::chrono::seconds(60));
  claims_.release(failed);
  EXPECT_EQ(live_, 1);
  claims_.expireAfter(silent, std::chrono::milliseconds(10));
  io_.run_for(std::chrono::seconds(2));
  EXPECT_EQ(live_, 0);
  EXPECT_FALSE(claims_.holds(spec("c2", 8081).key()));
}

TEST_F(StartClaimsTest, AnExpiryMovedLaterKeepsTheClaim) {
  auto id = claims_.add(claimed({spec("c1", 8080)}), std::chrono::milliseconds(10));
  claims_.expireAfter(id, std::chrono::seconds(60));  // the engine answered: a new deadline
  io_.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(live_, 1);
  claims_.clear();
  EXPECT_EQ(live_, 0);
}

}  // namespace
}  // namespace berth::fwd
