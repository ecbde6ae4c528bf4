#pragma once
// ProfilePaths: where one profile lives on the host ($BERTH_HOME, else ~/.berth, then
// <home>/<profile>/...) and the rules for profile names ([a-z0-9][a-z0-9-]{0,30}, nothing that
// could walk out of the home). Pure value type; thread-safe. Socket path lengths are checked by
// the caller with server::checkSocketPathLength (vm/ does not link server/).
#include <string>
#include <vector>

namespace berth::vm {

class ProfilePaths {
 public:
  static constexpr const char* kDefaultProfile = "default";

  // True when `name` is a valid profile name.
  static bool isValidName(const std::string& name);
  // Throws std::invalid_argument with one line saying the rule when `name` is invalid.
  static void checkName(const std::string& name);
  // $BERTH_HOME, else $HOME/.berth; throws when neither BERTH_HOME nor HOME is set.
  static std::string home();
  // $BERTH_PROFILE when set, else "default".
  static std::string defaultProfileName();
  // Paths of `profile` under `home` (checks the name).
  static ProfilePaths forProfile(const std::string& profile, const std::string& home);
  static ProfilePaths forProfile(const std::string& profile) { return forProfile(profile, home()); }
  // Names of the profiles that have a directory with a berth.yaml under `home`, sorted.
  static std::vector<std::string> list(const std::string& home);

  std::string name;
  std::string home_dir;
  std::string dir;                // <home>/<profile>
  std::string config_file;        // berth.yaml
  std::string docker_socket;      // the Docker API socket clients use
  std::string control_socket;     // the daemon's control API
  std::string pid_file;           // daemon.pid
  std::string lock_file;          // daemon.lock (flock held by the running daemon)
  std::string log_file;           // daemon.log
  std::string state_dir;          // driver state (<dir>/guest)
  std::string engine_socket;      // the guest engine's socket, for drivers that have one (ns)
  std::string containerd_socket;  // containerd's API relayed (runtime containerd)

  // "berth" for the default profile, "berth-<profile>" otherwise (docker and kube contexts).
  std::string contextName() const;
  // Every unix socket path this profile uses (for the length check).
  std::vector<std::string> socketPaths() const {
    return {docker_socket, control_socket, engine_socket, containerd_socket};
  }
  // The template every new profile starts from: <home>/_templates/default.yaml.
  static std::string templateFile(const std::string& home);
};

}  // namespace berth::vm
