// `berth mount add PATH[:GUEST][:w]`, `berth mount remove PATH`, `berth mount list`: a profile's
// shares, kept in its berth.yaml and applied at its next start, without retyping the others
// (a `berth start --mount` flag replaces them all).
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "server/cli/SettingsCheck.h"
#include "server/cli/TextTable.h"
#include "vm/MountFlag.h"

namespace berth::cli {
namespace {

struct MountOptions {
  ProfileArgs profile;
  std::string share;
};

std::string homeDir() {
  const char* home = std::getenv("HOME");
  return home != nullptr ? home : "";
}

ProfileClient existingProfile(const ProfileArgs& args) {
  ProfileClient client(args);
  client.requireExists();
  return client;
}

void saveShares(const ProfileClient& client, vm::ProfileConfig config,
                std::vector<vm::Share> shares, const std::string& done) {
  config.mounts = std::move(shares);
  SettingsCheck::beforeSave(config);
  config.save(client.paths().config_file);
  const bool running = client.status(std::chrono::seconds(3)).has_value();
  std::cerr << "berth: " << done << "; profile '" << client.paths().name
            << "' uses it from its next start"
            << (running ? " (" + client.command("restart") + " applies it now)" : "") << "\n";
}

void addShare(const MountOptions& o) {
  const ProfileClient client = existingProfile(o.profile);
  const vm::ProfileConfig config = client.loadConfig(true);
  const vm::Share share = vm::MountFlag::parse(o.share, homeDir());
  std::vector<vm::Share> shares = config.effectiveMounts();
  SettingsCheck::shareExists(share, "berth mount add " + o.share);
  std::string was;
  for (auto it = shares.begin(); it != shares.end();) {
    if (it->location == share.location) {  // the same folder again: its guest path or mode change
      was = " (was " + vm::MountFlag::format(*it) + ")";
      it = shares.erase(it);
    } else if (it->mount_point == share.mount_point) {
      throw std::runtime_error("guest path " + share.mount_point + " is already used by " +
                               vm::MountFlag::format(*it) + "; give another (" + share.location +
                               ":/GUEST) or remove that share first (berth mount remove " +
                               it->location + ")");
    } else {
      ++it;
    }
  }
  shares.push_back(share);
  saveShares(client, config, std::move(shares),
             "sharing " + share.location + " at " + share.mount_point +
                 (share.writable ? " (rw)" : " (ro)") + was);
}

void removeShare(const MountOptions& o) {
  const ProfileClient client = existingProfile(o.profile);
  const vm::ProfileConfig config = client.loadConfig(true);
  const std::string location = vm::MountFlag::parse(o.share, homeDir()).location;
  std::vector<vm::Share> shares = config.effectiveMounts();
  std::string shared;
  for (auto it = shares.begin(); it != shares.end(); ++it) {
    if (it->location == location) {
      shares.erase(it);
      saveShares(client, config, std::move(shares), "no longer sharing " + location);
      return;
    }
    shared += (shared.empty() ? "" : ", ") + it->location;
  }
  throw std::runtime_error(location + " is not shared by profile '" + client.paths().name +
                           "' (shared: " + (shared.empty() ? "nothing" : shared) + ")");
}

void listShares(const MountOptions& o) {
  const ProfileClient client = existingProfile(o.profile);
  const auto shares = client.loadConfig(true).effectiveMounts();
  TextTable table({"LOCATION", "MOUNTPOINT", "MODE"});
  for (const auto& s : shares) table.add({s.location, s.mount_point, s.writable ? "rw" : "ro"});
  table.print(std::cout);
  if (auto status = client.status(std::chrono::seconds(3))) {
    if ((*status)["mounts"] != vm::ProfileConfig::sharesJson(shares)) {
      std::cerr << "berth: the running guest still has the shares of its start; "
                << client.command("restart") << " applies these\n";
    }
  }
}

}  // namespace

void registerMountCommands(CLI::App& app) {
  auto* mount = app.add_subcommand(
      "mount", "Add, remove or list a profile's shared host folders (used from its next start)");
  mount->require_subcommand(1);

  auto add = std::make_shared<MountOptions>();
  auto* add_cmd = mount->add_subcommand("add", "Share a host folder too: PATH[:GUEST][:w]");
  add_cmd->add_option("share", add->share, "HOST[:GUEST][:w] (without :w read-only)")->required();
  add->profile.addTo(add_cmd, false);
  add_cmd->callback([add] { addShare(*add); });

  auto remove = std::make_shared<MountOptions>();
  auto* remove_cmd = mount->add_subcommand("remove", "Stop sharing a host folder: PATH");
  remove_cmd->alias("rm");
  remove_cmd->add_option("path", remove->share, "The shared host folder")->required();
  remove->profile.addTo(remove_cmd, false);
  remove_cmd->callback([remove] { removeShare(*remove); });

  auto list = std::make_shared<MountOptions>();
  auto* list_cmd = mount->add_subcommand("list", "List the shares the profile starts with");
  list_cmd->alias("ls");
  list->profile.addTo(list_cmd);
  list_cmd->callback([list] { listShares(*list); });
}

}  // namespace berth::cli
