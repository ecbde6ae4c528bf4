#pragma once
// EngineVersion: the version the guest's engine reports of itself, as the status shows it.
// It is read on this object's own thread (a blocking call to the engine, never on an I/O
// thread, never queued behind a boot), again whenever a status asks and the last reading is
// older than `max_age`, and it is tied to the boot it was read in: a reading of an earlier
// boot (the guest stopped or booted again since) is never shown, and an engine that did not
// answer gives "" (not known) until it answers. Thread-safe.
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "server/DriverThread.h"

namespace berth::server {

class EngineVersion {
 public:
  using Read = std::function<std::string()>;  // blocking; "" when the engine does not answer

  EngineVersion(Read read, std::chrono::milliseconds max_age);

  // Calls `done` once the reading of boot `boot` is at most max_age old: at once when it is,
  // else on this object's thread after reading it again.
  void refresh(int boot, std::function<void()> done);
  // The version read during boot `boot`, or "" when none is known for it.
  std::string of(int boot) const;

 private:
  bool fresh(int boot) const;  // under mutex_

  Read read_;
  std::chrono::milliseconds max_age_;
  mutable std::mutex mutex_;
  int boot_ = -1;
  std::string version_;
  std::chrono::steady_clock::time_point read_at_;
  DriverThread thread_;  // last: joined before the members above go
};

}  // namespace berth::server
