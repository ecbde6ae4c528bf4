// WakeController's probe through a forward that accepts before the far end does (QEMU's user
// network): Target::settle. The engine is FakeEngine (its start answers at once); the "port" is
// a loopback acceptor behaving as slirp does when the guest refuses (accept, then close), when
// it accepts (the connection stays open) or when its service speaks first.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <optional>
#include <vector>

#include "forwarding/WakeController.h"
#include "server/net/ByteStream.h"
#include "server/net/UnixConnector.h"
#include "tests/server/FakeEngine.h"

namespace berth::fwd {
namespace {

using boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A loopback port standing in for QEMU's hostfwd.
class FarEnd {
 public:
  // AcceptOnce: the first connect stays open (a close that came late), the others are closed.
  enum class Mode { Refuse, Accept, Banner, AcceptOnce };
  explicit FarEnd(boost::asio::io_context& io)
      : acceptor_(io, {boost::asio::ip::address_v4::loopback(), 0}) {
    accept();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  Mode mode = Mode::Refuse;
  int connects = 0;

 private:
  void accept() {
    acceptor_.async_accept([this](net::ErrorCode ec, tcp::socket socket) {
      if (ec) return;
      ++connects;
      auto held = std::make_shared<tcp::socket>(std::move(socket));
      if (mode == Mode::Refuse || (mode == Mode::AcceptOnce && connects > 1)) {
        held->close();  // the guest refused: slirp closes the host side
      } else {
        held_.push_back(held);
        if (mode == Mode::Banner)
          boost::asio::async_write(*held, boost::asio::buffer("SSH-2.0-x\r\n", 11),
                                   [held](net::ErrorCode, std::size_t) {});
      }
      accept();
    });
  }
  tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<tcp::socket>> held_;
};

class WakeControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-wake-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    engine_.emplace(dir_ + "/engine.sock");
    engine_->start();
    controller_ =
        WakeController::create(strand_, std::make_shared<net::UnixConnector>(engine_->path()));
  }
  void TearDown() override {
    controller_->stop();
    engine_->stop();
    std::filesystem::remove_all(dir_);
  }

  // Wakes with `settle` and `timeout`; returns the outcome once done was called.
  std::string wake(milliseconds settle, milliseconds timeout, milliseconds* took = nullptr) {
    WakeController::Target target;
    target.container = "web";
    target.probe = {boost::asio::ip::address_v4::loopback(), far_.port()};
    target.settle = settle;
    target.timeout = timeout;
    std::optional<std::string> outcome;
    const auto began = Clock::now();
    controller_->wake(target, [&](const std::string& error) {
      outcome = error;
      io_.stop();
    });
    io_.run_for(timeout + std::chrono::seconds(5));
    io_.restart();
    if (took) *took = std::chrono::duration_cast<milliseconds>(Clock::now() - began);
    return outcome.value_or("done was never called");
  }

  boost::asio::io_context io_;
  boost::asio::any_io_executor strand_ = boost::asio::make_strand(io_);
  std::string dir_;
  std::optional<test::FakeEngine> engine_;
  std::shared_ptr<WakeController> controller_;
  FarEnd far_{io_};
};

TEST_F(WakeControllerTest, WithoutSettleAConnectTheFarEndClosesCountsAsReady) {
  // Why settle exists: QEMU's user network accepts even when the guest refuses.
  EXPECT_EQ(wake(milliseconds(0), milliseconds(2000)), "");
  EXPECT_EQ(engine_->starts(), 1);
}

TEST_F(WakeControllerTest, AConnectClosedWithinSettleIsRefusedAndRetriedUntilTheTimeout) {
  const auto error = wake(milliseconds(200), milliseconds(1000));
  EXPECT_NE(error.find("port " + std::to_string(far_.port()) + " did not accept within 1000 ms"),
            std::string::npos)
      << error;
  EXPECT_GE(far_.connects, 3);  // tried again after each close
}

TEST_F(WakeControllerTest, TwoConnectsInARowThatStayOpenForTheSettleTimeAreReady) {
  far_.mode = FarEnd::Mode::Accept;
  milliseconds took{0};
  EXPECT_EQ(wake(milliseconds(150), milliseconds(5000), &took), "");
  EXPECT_GE(took.count(), 300);
  EXPECT_EQ(far_.connects, 2);
}

TEST_F(WakeControllerTest, OneLateCloseDoesNotMakeItReady) {
  // The far end refuses, whatever the first connect looked like.
  far_.mode = FarEnd::Mode::AcceptOnce;
  const auto error = wake(milliseconds(150), milliseconds(1000));
  EXPECT_NE(error.find("did not accept within 1000 ms"), std::string::npos) << error;
  EXPECT_GE(far_.connects, 3);
}

TEST_F(WakeControllerTest, ThePortIsReadyOnceTheGuestAcceptsAfterRefusing) {
  boost::asio::steady_timer later(io_, milliseconds(400));
  later.async_wait([this](net::ErrorCode) { far_.mode = FarEnd::Mode::Accept; });
  milliseconds took{0};
  EXPECT_EQ(wake(milliseconds(100), milliseconds(5000), &took), "");
  EXPECT_GE(took.count(), 400);
  EXPECT_GE(far_.connects, 2);
}

TEST_F(WakeControllerTest, BytesTheFarEndSendsFirstCountAtOnce) {
  far_.mode = FarEnd::Mode::Banner;
  milliseconds took{0};
  EXPECT_EQ(wake(milliseconds(4000), milliseconds(10000), &took), "");
  EXPECT_LT(took.count(), 3000);
}

}  // namespace
}  // namespace berth::fwd
