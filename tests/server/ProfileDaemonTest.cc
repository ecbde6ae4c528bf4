// The daemon's lifecycle against a FakeDriver: boot on demand (one boot for many first
// requests), a failed boot's 503, idle stop and the next boot, an engine that dies and comes
// back, a process hold (POST /hold) keeping idle stop off, and that a driver's blocking port
// calls never stall the I/O thread.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/ProfileDaemon.h"
#include "server/net/HttpClient.h"
#include "tests/server/FakeDriver.h"

namespace berth::server {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// One request through berth's own client; status 0 when no answer came within the deadline.
net::HttpResponse request(const std::string& socket, const std::string& method,
                          const std::string& target, std::chrono::milliseconds deadline = 10s) {
  return net::HttpClient::unixSocket(socket).request(method, target, deadline);
}

template <typename Pred>
bool waitFor(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

class ProfileDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bd-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    settings_.name = "fake";
    settings_.docker_socket = dir_ + "/docker.sock";
    settings_.control_socket = dir_ + "/control.sock";
    settings_.lock_file = dir_ + "/daemon.lock";
    settings_.pid_file = dir_ + "/daemon.pid";
    settings_.log_file = dir_ + "/daemon.log";
    settings_.lazy = true;
  }

  void TearDown() override {
    if (daemon_) {
      daemon_->requestStop(true);
      if (run_.valid()) {
        EXPECT_EQ(run_.wait_for(20s), std::future_status::ready);
      }
    }
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }

  test::FakeDriver& startDaemon(bool opens_ports = false) {
    auto driver = std::make_unique<test::FakeDriver>(dir_ + "/engine.sock", opens_ports);
    driver_ = driver.get();
    daemon_ = std::make_unique<ProfileDaemon>(settings_, std::move(driver));
    run_ = std::async(std::launch::async, [this] { return daemon_->run(); });
    EXPECT_TRUE(waitFor([this] { return std::filesystem::exists(settings_.control_socket); }));
    return *driver_;
  }

  nlohmann::json status(std::chrono::milliseconds deadline = 10s) {
    auto reply = request(settings_.control_socket, "GET", "/status", deadline);
    if (reply.status != 200) return nullptr;
    return nlohmann::json::parse(reply.body, nullptr, false);
  }

  std::string dir_;
  DaemonSettings settings_;
  std::unique_ptr<ProfileDaemon> daemon_;
  std::future<int> run_;
  test::FakeDriver* driver_ = nullptr;
};

TEST_F(ProfileDaemonTest, FiftyConcurrentFirstRequestsShareOneBoot) {
  auto& driver = startDaemon();
  driver.start_delay = 300ms;
  EXPECT_EQ(driver.starts, 0) << "a lazy daemon boots on the first request, not before";
  std::vector<std::future<net::HttpResponse>> replies;
  replies.reserve(50);
  for (int i = 0; i < 50; ++i) {
    replies.push_back(std::async(
        std::launch::async, [this] { return request(settings_.docker_socket, "GET", "/_ping"); }));
  }
  for (auto& reply : replies) {
    auto r = reply.get();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "OK");
  }
  EXPECT_EQ(driver.starts, 1);
  EXPECT_EQ(status()["boot"]["boots"], 1);
}

TEST_F(ProfileDaemonTest, FailedBootAnswersEveryWaiter503NamingTheLog) {
  auto& driver = startDaemon();
  driver.fail_boot = true;
  driver.start_delay = 200ms;
  std::vector<std::future<net::HttpResponse>> replies;
  replies.reserve(10);
  for (int i = 0; i < 10; ++i) {
    replies.push_back(std::async(std::launch::async, [this] {
      return request(settings_.docker_socket, "GET", "/containers/json");
    }));
  }
  for (auto& reply : replies) {
    auto r = reply.get();
    EXPECT_EQ(r.status, 503);
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r.body;
    const std::string message = body.value("message", "");
    EXPECT_NE(message.find("the fake engine would not start"), std::string::npos) << message;
    EXPECT_NE(message.find(settings_.log_file), std::string::npos) << message;
  }
  EXPECT_EQ(driver.starts, 1);
  EXPECT_EQ(status()["boot"]["lastError"], "the fake engine would not start");
}

TEST_F(ProfileDaemonTest, IdleStopThenTheNextRequestBootsAgain) {
  settings_.idle_stop_ms = 300;
  settings_.idle_stop = "300ms";
  auto& driver = startDaemon();
  ASSERT_EQ(request(settings_.docker_socket, "GET", "/_ping").status, 200);
  ASSERT_TRUE(waitFor([&] { return driver.stops == 1; })) << "no idle stop";
  // The count follows the driver's stop (after its guest event): wait for it, not race it.
  EXPECT_TRUE(waitFor([&] { return status()["boot"]["idleStops"] == 1; }));
  EXPECT_EQ(status()["guest"]["state"], "Stopped");
  auto again = request(settings_.docker_socket, "GET", "/_ping");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, "OK");
  EXPECT_EQ(driver.starts, 2);
}

TEST_F(ProfileDaemonTest, RunningContainersKeepTheGuestUp) {
  settings_.idle_stop_ms = 200;
  settings_.idle_stop = "200ms";
  auto& driver = startDaemon();
  driver.fakeEngine().setContainers(R"([{"Id":"c1","Names":["/web"],"Ports":[]}])");
  ASSERT_EQ(request(settings_.docker_socket, "GET", "/_ping").status, 200);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(driver.stops, 0) << "a running container means not idle";
  driver.fakeEngine().setContainers("[]");
  EXPECT_TRUE(waitFor([&] { return driver.stops == 1; }));
}

TEST_F(ProfileDaemonTest, AHeldProcessKeepsTheGuestUpUntilItExitsThenTheIdleDelayRuns) {
  settings_.idle_stop_ms = 300;
  settings_.idle_stop = "300ms";
  auto& driver = startDaemon();
  const pid_t child = ::fork();  // stands for a running `berth ssh`
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  // Bad pids: one Docker-shaped 400 each, nothing held.
  for (const char* bad : {"/hold", "/hold?pid=", "/hold?pid=0", "/hold?pid=-3", "/hold?pid=12ab",
                          "/hold?pid=99999999999"}) {
    auto reply = request(settings_.control_socket, "POST", bad);
    EXPECT_EQ(reply.status, 400) << bad;
    EXPECT_NE(nlohmann::json::parse(reply.body, nullptr, false).value("message", ""), "") << bad;
  }
  const pid_t reaped = ::fork();
  if (reaped == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(reaped, nullptr, 0), reaped);
  auto gone = request(settings_.control_socket, "POST", "/hold?pid=" + std::to_string(reaped));
  EXPECT_EQ(gone.status, 400);
  EXPECT_EQ(nlohmann::json::parse(gone.body)["message"],
            "hold: no process has pid " + std::to_string(reaped));
  EXPECT_EQ(status()["holds"], 0);

  auto held = request(settings_.control_socket, "POST", "/hold?pid=" + std::to_string(child));
  ASSERT_EQ(held.status, 200) << held.body;
  ASSERT_EQ(request(settings_.docker_socket, "GET", "/_ping").status, 200);  // boots
  std::this_thread::sleep_for(1500ms);                                       // five idle delays
  EXPECT_EQ(driver.stops, 0) << "a held process means not idle";
  auto s = status();
  EXPECT_EQ(s["holds"], 1);
  EXPECT_EQ(s["boot"]["state"], "up");
  EXPECT_TRUE(s["boot"]["idleStopInSeconds"].is_null()) << s["boot"];

  ::kill(child, SIGKILL);
  const auto ended = Clock::now();
  ASSERT_TRUE(waitFor([&] { return driver.stops == 1; })) << "no idle stop after the hold";
  // The idle delay counts from the hold's end, not from the last request.
  EXPECT_GE(Clock::now() - ended, 250ms);
  EXPECT_EQ(status()["holds"], 0);
  EXPECT_EQ(::waitpid(child, nullptr, 0), child);
}

TEST_F(ProfileDaemonTest, EngineThatDiesAnswers503ThenServesAgain) {
  auto& driver = startDaemon();
  ASSERT_EQ(request(settings_.docker_socket, "GET", "/_ping").status, 200);
  driver.engineDies();
  auto down = request(settings_.docker_socket, "GET", "/_ping");
  EXPECT_EQ(down.status, 503);
  EXPECT_NE(down.body.find("dockerd restarting (attempt 1)"), std::string::npos) << down.body;
  EXPECT_EQ(status()["guest"]["state"], "Starting");
  driver.engineReturns();
  auto up = request(settings_.docker_socket, "GET", "/_ping");
  EXPECT_EQ(up.status, 200);
  EXPECT_EQ(up.body, "OK");
  EXPECT_EQ(driver.starts, 1) << "an engine restart is not a new boot";
}

// QEMU's QMP serves one client at a time, and a state save holds it for minutes: a port the
// driver opens or closes must wait on a worker, never on the I/O thread that serves clients.
TEST_F(ProfileDaemonTest, BlockedPortCallsDoNotStallTheIoThread) {
  settings_.lazy = false;
  auto& driver = startDaemon(/*opens_ports=*/true);
  driver.fakeEngine().setContainers(
      R"([{"Id":"c1","Names":["/web"],"State":"running",)"
      R"("Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":18080,"Type":"tcp"}]}])");
  ASSERT_TRUE(driver.fakeEngine().waitForEventStream());
  driver.fakeEngine().pushEvent(
      R"({"Type":"container","Action":"start","Actor":{"ID":"c1","Attributes":{}}})");
  ASSERT_TRUE(waitFor([&] { return driver.opens >= 1; })) << "the forward never opened";

  // QMP is busy for 3 s while the container stops: its port's close has to wait.
  auto busy = std::async(std::launch::async, [&] { driver.holdQmp(3s); });
  std::this_thread::sleep_for(100ms);
  driver.fakeEngine().setContainers("[]");
  driver.fakeEngine().pushEvent(
      R"({"Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{}}})");

  std::this_thread::sleep_for(300ms);  // the forwarder has handled the event by now
  const auto t0 = Clock::now();
  auto ping = request(settings_.docker_socket, "GET", "/_ping", 1500ms);
  auto st = status(1500ms);
  const auto waited = Clock::now() - t0;
  EXPECT_EQ(ping.status, 200) << "GET /_ping did not answer while QMP was busy";
  EXPECT_TRUE(st.is_object()) << "berth status did not answer while QMP was busy";
  EXPECT_LT(waited, 2500ms);
  EXPECT_EQ(driver.closes, 0) << "the close cannot have run while QMP was held";
  busy.get();
  EXPECT_TRUE(waitFor([&] { return driver.closes == driver.opens; }))
      << "the closes never reached QMP";
}

TEST_F(ProfileDaemonTest, ASecondDaemonOnTheSameLockIsRefused) {
  startDaemon();
  ProfileDaemon second(settings_,
                       std::make_unique<test::FakeDriver>(dir_ + "/engine2.sock", false));
  try {
    second.run();
    FAIL() << "a second daemon ran";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("already running"), std::string::npos) << e.what();
  }
}

// qemu: container addresses are behind its user network, so names cannot work there and status
// says so in one line; wake ports berth holds itself and relays through the driver's own
// forwards, so wake is on.
TEST_F(ProfileDaemonTest, ADriverThatOpensPortsItselfHasWakeButNoNames) {
  settings_.domains_dir = dir_;
  settings_.domains = true;
  startDaemon(/*opens_ports=*/true);
  auto s = status();
  EXPECT_EQ(s["wake"], (nlohmann::json{{"enabled", true}}));
  EXPECT_EQ(s["domains"]["enabled"], false);
  EXPECT_NE(s["domains"]["off"].get<std::string>().find(
                "the fake driver cannot reach container addresses from the host"),
            std::string::npos)
      << s["domains"];
}

TEST_F(ProfileDaemonTest, ADriverThatLeavesPortsToBerthHasWake) {
  startDaemon(/*opens_ports=*/false);
  EXPECT_EQ(status()["wake"], (nlohmann::json{{"enabled", true}}));
}

}  // namespace
}  // namespace berth::server
