#pragma once
// FakeDriver: a vm::Driver for unit tests of the daemon's lifecycle. Its "guest" is a
// FakeEngine on a unix socket; start() and stop() take as long as the test says, count their
// calls, and start() fails while fail_boot is set. With opens_ports it is also the PortOpener
// (like qemu's hostfwd): openForward/closeForward take the same lock as holdQmp(), which
// stands in for QEMU's single QMP client being busy (a state save). Thread-safe.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "tests/server/FakeEngine.h"
#include "vm/Driver.h"

namespace berth::test {

class FakeDriver final : public vm::Driver, public vm::PortOpener {
 public:
  FakeDriver(std::string engine_socket, bool opens_ports)
      : engine_(std::move(engine_socket)), opens_ports_(opens_ports) {}
  ~FakeDriver() override { engine_.stop(); }

  std::string name() const override { return "fake"; }
  void start(const vm::ProgressSink& progress) override;
  void stop(bool force) override;
  vm::GuestStatus status() const override;
  vm::EngineEndpoint engine() const override;
  std::string guestEngineSocket() const override { return engine_.path(); }
  std::string guestAddress() const override { return ""; }
  std::vector<vm::Share> shares() const override { return {}; }
  vm::PortOpener* portOpener() override { return opens_ports_ ? this : nullptr; }
  std::vector<std::string> shellArgv(const std::vector<std::string>&, bool) const override {
    throw vm::DriverError("no shell in a fake guest");
  }

  std::string openForward(const std::string& protocol, const std::string& host_ip,
                          std::uint16_t host_port, std::uint16_t guest_port) override;
  std::string closeForward(const std::string& protocol, const std::string& host_ip,
                           std::uint16_t host_port) override;

  // The engine dies (supervision reports it restarting), or comes back.
  void engineDies();
  void engineReturns();
  // Holds the port opener's lock for `how_long` on the calling thread.
  void holdQmp(std::chrono::milliseconds how_long);

  FakeEngine& fakeEngine() { return engine_; }
  std::atomic<int> starts{0}, stops{0}, opens{0}, closes{0};
  std::atomic<bool> fail_boot{false};
  std::chrono::milliseconds start_delay{0}, stop_delay{0};

 private:
  FakeEngine engine_;
  const bool opens_ports_;
  mutable std::mutex mutex_;
  vm::GuestStatus status_;
  std::mutex qmp_;
};

}  // namespace berth::test
