// `berth stop [profile] [-f]` and `berth delete [profile] [-f] [--data]`.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "server/cli/Cli.h"
#include "server/cli/DockerContext.h"
#include "server/cli/ProfileClient.h"
#include "vm/DriverFactory.h"
#include "vm/Kubeconfig.h"

namespace berth::cli {
namespace {

// Takes the profile's cluster, user and context (named like its docker context) out of the
// user's kubeconfig, keeping every other entry. A kubeconfig berth cannot read is left alone:
// the delete goes on and says so.
void removeKubeContext(const std::string& name) {
  const std::string file = vm::Kubeconfig::userFile();
  try {
    if (vm::Kubeconfig::remove(file, name)) {
      std::cerr << "berth: removed kube context \"" << name << "\" from " << file << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "berth: kube context \"" << name << "\" left in place: " << e.what() << "\n";
  }
}

struct StopOptions {
  ProfileArgs profile;
  bool force = false;
  bool data = false;
};

// Stops the profile's daemon and guest; true when something was running. A guest left running
// by a daemon that was killed is stopped too.
bool stopProfile(const ProfileClient& client, bool force) {
  const auto& paths = client.paths();
  if (client.status(std::chrono::seconds(3))) {
    std::cerr << "berth: stopping profile '" << paths.name << "'\n";
    client.stopDaemon(force);
    return true;
  }
  client.cleanStale();
  auto driver = vm::DriverFactory::makeDriver(client.loadConfig(true), paths);
  if (driver->orphanRunning()) {
    std::cerr << "berth: stopping the guest of profile '" << paths.name
              << "' left running by a daemon that did not exit cleanly\n";
    driver->stop(force);
    return true;
  }
  return false;
}

bool confirm(const std::string& question) {
  if (!::isatty(STDIN_FILENO)) return false;
  std::cerr << question << " [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

// `berth delete --data NAME` after a `berth delete NAME` that kept the data: remove that too.
void deleteKeptData(const StopOptions& o, const ProfileClient& client) {
  const auto& paths = client.paths();
  if (!o.force && !confirm("delete the kept container data of profile '" + paths.name + "'?")) {
    throw std::runtime_error("not deleted: confirm with y, or use berth delete -f --data");
  }
  std::error_code ec;
  std::filesystem::remove_all(paths.dir, ec);
  if (ec) throw std::runtime_error("could not remove all of " + paths.dir + ": " + ec.message());
  std::cerr << "berth: deleted the container data kept from profile '" << paths.name << "'\n";
}

void deleteProfile(const StopOptions& o) {
  ProfileClient client(o.profile);
  const auto& paths = client.paths();
  if (!client.exists() && !client.keptData().empty()) {
    if (!o.data) {
      throw std::runtime_error("profile '" + paths.name +
                               "' was deleted; its container data is kept (berth delete --data " +
                               paths.name + " removes it)");
    }
    deleteKeptData(o, client);
    return;
  }
  client.requireExists();
  const std::string what = "profile '" + paths.name + "'" +
                           (o.data ? " and its container data" : " (container data is kept)");
  if (!o.force && !confirm("delete " + what + "?")) {
    throw std::runtime_error("not deleted: confirm with y, or use berth delete -f");
  }
  stopProfile(client, o.force);
  const bool was_current = DockerContext::current() == paths.contextName();
  DockerContext::remove(paths.contextName());
  removeKubeContext(paths.contextName());
  std::error_code ec;
  if (o.data) {
    std::filesystem::remove_all(paths.dir, ec);
  } else {
    // Keep the engine's data (images, volumes, containers) for the next start of this name.
    const std::filesystem::path keep = std::filesystem::path(paths.state_dir) / "data";
    for (const auto& entry : std::filesystem::directory_iterator(paths.dir, ec)) {
      if (entry.path() == paths.state_dir) {
        for (const auto& inner : std::filesystem::directory_iterator(entry.path(), ec)) {
          if (inner.path() != keep) std::filesystem::remove_all(inner.path(), ec);
        }
      } else {
        std::filesystem::remove_all(entry.path(), ec);
      }
    }
  }
  if (ec) throw std::runtime_error("could not remove all of " + paths.dir + ": " + ec.message());
  std::cerr << "berth: deleted " << what << "\n";
  if (was_current) {
    // The docker CLI falls back to its own default context (DOCKER_HOST or /var/run/docker.sock).
    std::cerr << "berth: docker context \"" << paths.contextName()
              << "\" was the current one; the current context is now \"default\" "
              << "(docker context use NAME picks another)\n";
  }
}

}  // namespace

void registerStopCommands(CLI::App& app) {
  auto stop = std::make_shared<StopOptions>();
  auto* cmd = app.add_subcommand("stop", "Stop a profile's guest and daemon");
  stop->profile.addTo(cmd);
  cmd->add_flag("-f,--force", stop->force,
                "Kill the guest at once instead of stopping it gracefully");
  cmd->callback([stop] {
    ProfileClient client(stop->profile);
    client.requireExists();
    if (stopProfile(client, stop->force)) {
      std::cerr << "berth: profile '" << client.paths().name << "' stopped\n";
    } else {
      std::cerr << "berth: profile '" << client.paths().name << "' is not running; nothing to do\n";
    }
  });

  auto del = std::make_shared<StopOptions>();
  auto* delete_cmd = app.add_subcommand("delete", "Delete a profile (stopping it first)");
  del->profile.addTo(delete_cmd);
  delete_cmd->add_flag("-f,--force", del->force, "Do not ask for confirmation");
  delete_cmd->add_flag("--data", del->data, "Also delete the container data (images, volumes)");
  delete_cmd->callback([del] { deleteProfile(*del); });
}

}  // namespace berth::cli
