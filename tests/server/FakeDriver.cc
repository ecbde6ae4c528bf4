#include "tests/server/FakeDriver.h"

#include <thread>

namespace berth::test {

void FakeDriver::start(const vm::ProgressSink& progress) {
  ++starts;
  progress("fake guest booting");
  std::this_thread::sleep_for(start_delay);
  if (fail_boot) {
    std::lock_guard lock(mutex_);
    status_ = {vm::GuestState::Broken, "the fake engine would not start"};
    throw vm::DriverError("the fake engine would not start");
  }
  engine_.start();
  std::lock_guard lock(mutex_);
  status_ = {vm::GuestState::Running, ""};
}

void FakeDriver::stop(bool /*force*/) {
  ++stops;
  std::lock_guard qmp(qmp_);  // a state save keeps QMP busy
  std::this_thread::sleep_for(stop_delay);
  engine_.stop();
  std::lock_guard lock(mutex_);
  status_ = {vm::GuestState::Stopped, ""};
}

vm::GuestStatus FakeDriver::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

vm::EngineEndpoint FakeDriver::engine() const {
  vm::EngineEndpoint endpoint;
  endpoint.kind = vm::EngineEndpoint::Kind::Unix;
  endpoint.unix_path = engine_.path();
  return endpoint;
}

std::string FakeDriver::openForward(const std::string&, const std::string&, std::uint16_t,
                                    std::uint16_t) {
  std::lock_guard qmp(qmp_);
  ++opens;
  return "";
}

std::string FakeDriver::closeForward(const std::string&, const std::string&, std::uint16_t) {
  std::lock_guard qmp(qmp_);
  ++closes;
  return "";
}

void FakeDriver::engineDies() {
  {
    std::lock_guard lock(mutex_);
    status_ = {vm::GuestState::Starting, "dockerd restarting (attempt 1)"};
  }
  engine_.stop();
}

void FakeDriver::engineReturns() {
  engine_.start();
  std::lock_guard lock(mutex_);
  status_ = {vm::GuestState::Running, ""};
}

void FakeDriver::holdQmp(std::chrono::milliseconds how_long) {
  std::lock_guard qmp(qmp_);
  std::this_thread::sleep_for(how_long);
}

}  // namespace berth::test
