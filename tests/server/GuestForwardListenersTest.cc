#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/GuestForwardListeners.h"

namespace berth::server {
namespace {

// Records the calls a driver's opener gets, in order; fails the ones the test names.
class RecordingOpener final : public vm::PortOpener {
 public:
  std::string openForward(const std::string& protocol, const std::string& host_ip,
                          std::uint16_t host_port, std::uint16_t guest_port) override {
    return note("open " + protocol + " " + host_ip + ":" + std::to_string(host_port) + " -> " +
                std::to_string(guest_port));
  }
  std::string closeForward(const std::string& protocol, const std::string& host_ip,
                           std::uint16_t host_port) override {
    return note("close " + protocol + " " + host_ip + ":" + std::to_string(host_port));
  }
  std::string loopbackRefusal(const std::string& guest_loopback) const override {
    return guest_loopback == "::1" ? "IPv6 loopback" : "";
  }
  std::string redirectToLoopback(std::uint16_t guest_port, const std::string& to) override {
    auto result = note("redirect " + std::to_string(guest_port) + " " + to);
    std::unique_lock lock(mutex_);
    released_.wait(lock, [this] { return !hold_redirects_; });
    return result;
  }
  std::string unredirectFromLoopback(std::uint16_t guest_port, const std::string& to) override {
    return note("unredirect " + std::to_string(guest_port) + " " + to);
  }

  std::vector<std::string> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::string fail;  // a call that starts with it fails (set before any call)
  // While held, a redirect (as slow as an ssh session into the guest) returns only on release().
  void holdRedirects() {
    std::lock_guard lock(mutex_);
    hold_redirects_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      hold_redirects_ = false;
    }
    released_.notify_all();
  }

 private:
  std::string note(std::string call) {
    std::lock_guard lock(mutex_);
    const bool fails = !fail.empty() && call.rfind(fail, 0) == 0;
    calls_.push_back(std::move(call));
    return fails ? "it failed" : "";
  }
  std::mutex mutex_;
  std::condition_variable released_;
  bool hold_redirects_ = false;
  std::vector<std::string> calls_;
};

fwd::ForwardSpec loopbackSpec() {
  fwd::ForwardSpec spec;
  spec.proto = "tcp";
  spec.bind_ip = "127.0.0.1";
  spec.host_port = 22003;
  spec.guest_port = 22003;
  spec.guest_loopback = "127.0.0.1";
  return spec;
}

TEST(GuestForwardListenersTest, APortOnTheGuestsLoopbackIsRedirectedBeforeItOpensAndAfterItCloses) {
  RecordingOpener opener;
  GuestForwardListeners listeners(opener);
  std::string error;
  auto listener = listeners.open(loopbackSpec(), error);
  ASSERT_TRUE(listener) << error;
  listeners.drain();
  EXPECT_EQ(opener.calls(), (std::vector<std::string>{"redirect 22003 127.0.0.1",
                                                      "open tcp 127.0.0.1:22003 -> 22003"}));
  listener.reset();
  listeners.drain();
  EXPECT_EQ(opener.calls(), (std::vector<std::string>{
                                "redirect 22003 127.0.0.1", "open tcp 127.0.0.1:22003 -> 22003",
                                "close tcp 127.0.0.1:22003", "unredirect 22003 127.0.0.1"}));
}

TEST(GuestForwardListenersTest, ACniHostportOnTheGuestsLoopbackIsRedirectedToItsContainer) {
  RecordingOpener opener;
  GuestForwardListeners listeners(opener);
  auto spec = loopbackSpec();
  spec.guest_destination = "10.4.0.5:80";
  EXPECT_EQ(listeners.refusal(spec), "");
  std::string error;
  auto listener = listeners.open(spec, error);
  ASSERT_TRUE(listener) << error;
  listener.reset();
  listeners.drain();
  EXPECT_EQ(opener.calls(), (std::vector<std::string>{
                                "redirect 22003 10.4.0.5:80", "open tcp 127.0.0.1:22003 -> 22003",
                                "close tcp 127.0.0.1:22003", "unredirect 22003 10.4.0.5:80"}));
}

TEST(GuestForwardListenersTest, AFailedOpenUndoesItsRedirectAndIsReported) {
  RecordingOpener opener;
  opener.fail = "open ";
  GuestForwardListeners listeners(opener);
  std::vector<std::string> failures;
  std::mutex mutex;
  listeners.setFailureHandler([&](const fwd::ForwardSpec& spec, const std::string& why) {
    std::lock_guard lock(mutex);
    failures.push_back(spec.hostAddress() + ": " + why);
  });
  std::string error;
  auto listener = listeners.open(loopbackSpec(), error);
  listeners.drain();
  listener.reset();  // nothing was opened: nothing to close
  listeners.drain();
  EXPECT_EQ(opener.calls(), (std::vector<std::string>{"redirect 22003 127.0.0.1",
                                                      "open tcp 127.0.0.1:22003 -> 22003",
                                                      "unredirect 22003 127.0.0.1"}));
  std::lock_guard lock(mutex);
  EXPECT_EQ(failures, (std::vector<std::string>{"127.0.0.1:22003: it failed"}));
}

TEST(GuestForwardListenersTest, AFailedRedirectOpensNothing) {
  RecordingOpener opener;
  opener.fail = "redirect ";
  GuestForwardListeners listeners(opener);
  int failures = 0;
  listeners.setFailureHandler([&](const fwd::ForwardSpec&, const std::string&) { ++failures; });
  std::string error;
  auto listener = listeners.open(loopbackSpec(), error);
  listeners.drain();
  listener.reset();
  listeners.drain();
  EXPECT_EQ(opener.calls(), (std::vector<std::string>{"redirect 22003 127.0.0.1"}));
  EXPECT_EQ(failures, 1);  // drain() ordered it before this read
}

TEST(GuestForwardListenersTest, APlainForwardDoesNotWaitBehindARedirect) {
  RecordingOpener opener;
  opener.holdRedirects();
  GuestForwardListeners listeners(opener);
  std::string error;
  auto redirected = listeners.open(loopbackSpec(), error);
  // The redirect has started (and is held) before the plain forward is asked for: the two
  // workers' calls have no order of their own.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (opener.calls().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(opener.calls(), (std::vector<std::string>{"redirect 22003 127.0.0.1"}));
  auto plain_spec = loopbackSpec();
  plain_spec.host_port = plain_spec.guest_port = 22004;
  plain_spec.guest_loopback.clear();
  auto plain = listeners.open(plain_spec, error);
  plain.reset();
  const std::vector<std::string> plain_calls = {"open tcp 127.0.0.1:22004 -> 22004",
                                                "close tcp 127.0.0.1:22004"};
  auto has_plain_calls = [&] {
    auto calls = opener.calls();
    return std::search(calls.begin(), calls.end(), plain_calls.begin(), plain_calls.end()) !=
           calls.end();
  };
  while (!has_plain_calls() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // The redirect still waits; the plain forward has opened and closed.
  EXPECT_EQ(opener.calls(), (std::vector<std::string>{"redirect 22003 127.0.0.1",
                                                      "open tcp 127.0.0.1:22004 -> 22004",
                                                      "close tcp 127.0.0.1:22004"}));
  opener.release();
  redirected.reset();  // its calls stay in order behind the redirect
  listeners.drain();
  EXPECT_EQ(opener.calls(), (std::vector<std::string>{
                                "redirect 22003 127.0.0.1", "open tcp 127.0.0.1:22004 -> 22004",
                                "close tcp 127.0.0.1:22004", "open tcp 127.0.0.1:22003 -> 22003",
                                "close tcp 127.0.0.1:22003", "unredirect 22003 127.0.0.1"}));
}

TEST(GuestForwardListenersTest, RefusalsComeFromTheOpenerWithoutAnyCall) {
  RecordingOpener opener;
  GuestForwardListeners listeners(opener);
  auto spec = loopbackSpec();
  EXPECT_EQ(listeners.refusal(spec), "");
  spec.guest_loopback = "::1";
  EXPECT_EQ(listeners.refusal(spec), "IPv6 loopback");
  spec.proto = "udp";
  EXPECT_NE(listeners.refusal(spec), "");
  spec.guest_loopback.clear();
  EXPECT_EQ(listeners.refusal(spec), "");  // the guest's own address: hostfwd reaches it
  EXPECT_FALSE(listeners.opensIpv6());     // PortOpener's default: IPv4 host addresses only
  listeners.drain();
  EXPECT_TRUE(opener.calls().empty());
}

}  // namespace
}  // namespace berth::server
