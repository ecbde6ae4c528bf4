#pragma once
// ProfileClient: what the admin commands (start, stop, status, ...) need to know and do about
// one profile from the outside: which profile the command line means, its layered config, and
// its daemon -- whether it runs, its control API (status, boot, stop), launching it detached,
// and cleaning up after one that crashed. Control-plane code: blocking, with bounded waits;
// throws std::runtime_error with one clear line. Not thread-safe.
#include <CLI/App.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::cli {

// `[profile]` and `-p/--profile` of a command.
struct ProfileArgs {
  std::string positional;
  std::string flag;
  // Adds both to `cmd` (the positional only when `positional` is true).
  void addTo(CLI::App* cmd, bool positional = true);
  // positional, else -p, else $BERTH_PROFILE, else "default"; the name is checked.
  std::string resolve() const;
};

class ProfileClient {
 public:
  explicit ProfileClient(const ProfileArgs& args);
  explicit ProfileClient(vm::ProfilePaths paths);

  const vm::ProfilePaths& paths() const { return paths_; }
  // "berth start" or "berth start NAME": how to refer to this profile in a hint.
  std::string command(const std::string& verb) const;
  bool exists() const;  // has a berth.yaml
  // Throws the one line every command gives for a profile without a berth.yaml: where to see
  // the profiles, and the start (with `start_flags`, e.g. " --lazy") that creates it.
  void requireExists(const std::string& start_flags = "") const;
  // The container data an earlier `berth delete` (without --data) kept, when the profile has no
  // berth.yaml any more: its folder, else "".
  std::string keptData() const;
  // Names of the deleted profiles under `home` whose container data was kept, sorted.
  static std::vector<std::string> namesWithKeptData(const std::string& home);
  // defaults, then the template, then berth.yaml (when `with_profile_file`).
  vm::ProfileConfig loadConfig(bool with_profile_file = true) const;

  // The daemon's status, or nullopt when no daemon answers on control.sock.
  std::optional<nlohmann::json> status(
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // Asks the daemon to boot the guest (returns at once).
  void requestBoot() const;
  // When the daemon runs and its guest is down (lazy, idle-stopped), boots it and waits
  // (bounded) until it is up; throws with the boot's error. Without a daemon it does nothing:
  // the driver's own check then says what to do.
  void bootIfDown() const;
  // Asks the daemon to keep idle stop off until process `pid` exits (POST /hold). Best effort:
  // false, and nothing else, when no daemon answers or it refuses.
  bool holdWhileRunning(int pid) const;
  // Asks the daemon to stop the guest and exit; waits (bounded) until it has.
  void stopDaemon(bool force) const;
  // Pid of a live daemon according to daemon.pid, or 0.
  int daemonPid() const;
  // Removes a dead daemon's pid file and sockets; returns a line saying what it cleaned, or "".
  std::string cleanStale() const;
  // Starts `berth daemon --profile P` detached, logging to daemon.log, and waits (bounded)
  // until its control API answers; throws with the log's last error when it does not.
  void launchDaemon() const;

 private:
  vm::ProfilePaths paths_;
};

}  // namespace berth::cli
