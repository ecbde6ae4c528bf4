#include "server/cli/SettingsCheck.h"

#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "server/TcpApiAccess.h"
#include "vm/MountFlag.h"

namespace berth::cli {

void SettingsCheck::shareExists(const vm::Share& share, const std::string& how) {
  std::error_code ec;
  if (std::filesystem::is_directory(share.location, ec)) return;
  throw std::runtime_error("cannot share " + share.location + " (" + how + "): " +
                           (std::filesystem::exists(share.location, ec)
                                ? "it is not a folder"
                                : "no such folder on this host; create it first") +
                           "; nothing was saved");
}

void SettingsCheck::beforeSave(const vm::ProfileConfig& config) {
  try {
    config.validate();
    for (const auto& url : config.listen) server::TcpApiAccess::parse(url);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) + "; nothing was saved");
  }
  if (!config.nerdctl.binary.empty() && ::access(config.nerdctl.binary.c_str(), X_OK) != 0) {
    throw std::runtime_error("nerdctl.binary " + config.nerdctl.binary +
                             " is not an executable file on this host; nothing was saved");
  }
  // The default share (the user's home) is not checked: berth did not ask for it by name.
  if (config.mounts) {
    for (const auto& share : *config.mounts)
      shareExists(share, "--mount " + vm::MountFlag::format(share));
  }
}

}  // namespace berth::cli
