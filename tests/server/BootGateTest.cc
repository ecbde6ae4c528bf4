#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <thread>

#include "server/BootGate.h"

namespace berth::server {
namespace {

TEST(BootGateTest, ConcurrentWaitersShareOneBoot) {
  boost::asio::io_context io;
  int boots = 0;
  BootGate* gate_ptr = nullptr;
  BootGate gate([&] { ++boots; });
  gate_ptr = &gate;
  int ready = 0;
  for (int i = 0; i < 20; ++i) {
    gate.whenUp(io.get_executor(), [&](const std::string* error) {
      EXPECT_EQ(error, nullptr);
      ++ready;
    });
  }
  EXPECT_EQ(boots, 1);
  EXPECT_EQ(gate.state(), BootGate::State::Booting);
  std::thread booter([&] { gate_ptr->bootFinished(std::nullopt); });
  booter.join();
  io.run();
  EXPECT_EQ(ready, 20);
  io.restart();
  gate.whenUp(io.get_executor(), [&](const std::string*) { ++ready; });  // already up
  io.run();
  EXPECT_EQ(ready, 21);
  EXPECT_EQ(boots, 1);
}

TEST(BootGateTest, FailedBootTellsEveryWaiterAndTheNextRequestRetries) {
  boost::asio::io_context io;
  int boots = 0;
  BootGate gate([&] { ++boots; }, std::chrono::milliseconds(0));
  std::vector<std::string> errors;
  for (int i = 0; i < 3; ++i) {
    gate.whenUp(io.get_executor(), [&](const std::string* e) { errors.push_back(e ? *e : ""); });
  }
  gate.bootFinished(std::string("no dockerd"));
  io.run();
  EXPECT_EQ(errors, std::vector<std::string>(3, "no dockerd"));
  EXPECT_EQ(gate.state(), BootGate::State::Down);
  gate.whenUp(io.get_executor(), [](const std::string*) {});
  EXPECT_EQ(boots, 2);
}

TEST(BootGateTest, RightAfterAFailedBootRequestsGetItsErrorWithoutANewBoot) {
  boost::asio::io_context io;
  int boots = 0;
  BootGate gate([&] { ++boots; }, std::chrono::hours(1));
  gate.whenUp(io.get_executor(), [](const std::string*) {});
  gate.bootFinished(std::string("no dockerd"));
  std::string told;
  gate.whenUp(io.get_executor(), [&](const std::string* e) { told = e ? *e : "up"; });
  io.run();
  EXPECT_EQ(told, "no dockerd");
  EXPECT_EQ(boots, 1);
  gate.requestBoot();  // an explicit boot (berth start) is never held back
  EXPECT_EQ(boots, 2);
}

TEST(BootGateTest, RequestDuringIdleStopBootsAgainAfterIt) {
  boost::asio::io_context io;
  int boots = 0;
  BootGate gate([&] { ++boots; });
  gate.requestBoot();
  gate.bootFinished(std::nullopt);
  EXPECT_FALSE(gate.beginStop([] { return false; }));  // a client is connected
  ASSERT_TRUE(gate.beginStop([] { return true; }));
  bool ready = false;
  gate.whenUp(io.get_executor(), [&](const std::string* e) { ready = e == nullptr; });
  EXPECT_EQ(boots, 1);  // not while stopping
  gate.stopFinished();
  EXPECT_EQ(boots, 2);
  gate.bootFinished(std::nullopt);
  io.run();
  EXPECT_TRUE(ready);
}

}  // namespace
}  // namespace berth::server
