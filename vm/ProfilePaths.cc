#include "vm/ProfilePaths.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <stdexcept>

namespace berth::vm {

bool ProfilePaths::isValidName(const std::string& name) {
  static const std::regex kPattern("[a-z0-9][a-z0-9-]{0,30}");
  return std::regex_match(name, kPattern);
}

void ProfilePaths::checkName(const std::string& name) {
  if (!isValidName(name)) {
    throw std::invalid_argument("invalid profile name '" + name +
                                "': use 1-31 characters of a-z, 0-9 and '-', starting with a "
                                "letter or digit");
  }
}

std::string ProfilePaths::home() {
  if (const char* env = std::getenv("BERTH_HOME"); env != nullptr && *env != '\0') {
    std::string home = env;
    while (home.size() > 1 && home.back() == '/') home.pop_back();
    return home;
  }
  const char* user_home = std::getenv("HOME");
  if (user_home == nullptr || *user_home == '\0') {
    throw std::runtime_error("neither BERTH_HOME nor HOME is set; set BERTH_HOME");
  }
  return std::string(user_home) + "/.berth";
}

std::string ProfilePaths::defaultProfileName() {
  if (const char* env = std::getenv("BERTH_PROFILE"); env != nullptr && *env != '\0') {
    return env;
  }
  return kDefaultProfile;
}

ProfilePaths ProfilePaths::forProfile(const std::string& profile, const std::string& home_dir) {
  checkName(profile);
  ProfilePaths p;
  p.name = profile;
  p.home_dir = home_dir;
  p.dir = home_dir + "/" + profile;
  p.config_file = p.dir + "/berth.yaml";
  p.docker_socket = p.dir + "/docker.sock";
  p.control_socket = p.dir + "/control.sock";
  p.pid_file = p.dir + "/daemon.pid";
  p.lock_file = p.dir + "/daemon.lock";
  p.log_file = p.dir + "/daemon.log";
  p.state_dir = p.dir + "/guest";
  p.engine_socket = p.state_dir + "/engine.sock";
  p.containerd_socket = p.dir + "/containerd.sock";
  return p;
}

std::vector<std::string> ProfilePaths::list(const std::string& home_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(home_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (isValidName(name) && std::filesystem::exists(entry.path() / "berth.yaml", ec)) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string ProfilePaths::contextName() const {
  return name == kDefaultProfile ? "berth" : "berth-" + name;
}

std::string ProfilePaths::templateFile(const std::string& home_dir) {
  return home_dir + "/_templates/default.yaml";
}

}  // namespace berth::vm
