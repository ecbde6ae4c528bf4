// BootingConnector's two modes against a real BootGate: OnDemand waits on (and starts) the
// boot; Never answers 503 at once while the guest is not up and leaves nothing queued, so a
// connect made as a stop begins does not boot the guest again when the stop ends.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <optional>

#include "server/BootingConnector.h"
#include "server/net/UnixConnector.h"

namespace berth::server {
namespace {

struct Outcome {
  bool answered = false;
  bool connected = false;
  int status = 0;
  std::string message;
};

class BootingConnectorTest : public ::testing::Test {
 protected:
  // The "engine": a socket path nobody listens on, so reaching it answers 502.
  BootingConnector connector(BootingConnector::Boot boot) {
    return BootingConnector(
        gate_, [] { return std::make_shared<net::UnixConnector>("/nonexistent/engine.sock"); },
        [] { return std::string(); }, "daemon.log", boot);
  }

  Outcome connectOnce(BootingConnector& c) {
    Outcome outcome;
    c.connect(io_.get_executor(), [&](net::ByteStreamPtr stream, const net::ConnectError* error) {
      outcome.answered = true;
      outcome.connected = stream != nullptr;
      if (error) {
        outcome.status = error->http_status;
        outcome.message = error->message;
      }
    });
    io_.restart();
    io_.run();
    return outcome;
  }

  void bootNow() {
    gate_->requestBoot();
    gate_->bootFinished(std::nullopt);
  }

  boost::asio::io_context io_;
  int boots_ = 0;
  std::shared_ptr<BootGate> gate_ = std::make_shared<BootGate>([this] { ++boots_; });
};

TEST_F(BootingConnectorTest, NeverAnswers503WhileDownAndBootsNothing) {
  auto never = connector(BootingConnector::Boot::Never);
  const Outcome down = connectOnce(never);
  EXPECT_TRUE(down.answered);
  EXPECT_FALSE(down.connected);
  EXPECT_EQ(down.status, 503);
  EXPECT_NE(down.message.find("down"), std::string::npos) << down.message;
  EXPECT_EQ(boots_, 0);
  EXPECT_EQ(gate_->state(), BootGate::State::Down);
}

TEST_F(BootingConnectorTest, NeverReachesTheEngineWhileUp) {
  bootNow();
  auto never = connector(BootingConnector::Boot::Never);
  const Outcome up = connectOnce(never);
  EXPECT_TRUE(up.answered);
  EXPECT_EQ(up.status, 502) << up.message;  // the engine's own answer: nobody listens there
  EXPECT_NE(up.message.find("/nonexistent/engine.sock"), std::string::npos) << up.message;
}

TEST_F(BootingConnectorTest, AConnectDuringAStopDoesNotBootTheGuestAgain) {
  bootNow();
  ASSERT_EQ(boots_, 1);
  ASSERT_TRUE(gate_->beginStop([] { return true; }));
  auto never = connector(BootingConnector::Boot::Never);
  const Outcome stopping = connectOnce(never);
  EXPECT_EQ(stopping.status, 503);
  EXPECT_NE(stopping.message.find("stopping"), std::string::npos) << stopping.message;
  gate_->stopFinished();
  EXPECT_EQ(gate_->state(), BootGate::State::Down);
  EXPECT_EQ(boots_, 1) << "a refused connect must not leave a waiter that boots the guest";

  // OnDemand, the docker CLI's path, does queue and boots once the stop is over.
  bootNow();
  ASSERT_TRUE(gate_->beginStop([] { return true; }));
  auto on_demand = connector(BootingConnector::Boot::OnDemand);
  bool answered = false;
  on_demand.connect(io_.get_executor(),
                    [&](net::ByteStreamPtr, const net::ConnectError*) { answered = true; });
  io_.restart();
  io_.run();
  EXPECT_FALSE(answered);  // waiting for the next boot
  gate_->stopFinished();
  EXPECT_EQ(boots_, 3);
}

}  // namespace
}  // namespace berth::server
