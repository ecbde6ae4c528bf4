// `berth update [profile] [--dry-run]` (Colima's update): moves the guest's engine to the newest
// version its source offers. ns driver: the engine is the host's installed dockerd, so an update
// is a restart of the guest onto it (a machine shutdown: containers with restart policies come
// back), saying the versions before and after. Drivers whose engine comes from the guest's own
// packages (qemu) are refused with one line until that is built.
#include <CLI/CLI.hpp>
#include <iostream>
#include <stdexcept>

#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "server/net/HttpClient.h"
#include "vm/DriverFactory.h"

namespace berth::cli {
namespace {

struct UpdateOptions {
  ProfileArgs profile;
  bool dry_run = false;
};

// The version the running engine reports (GET /version), or "" when it does not answer.
std::string runningEngineVersion(const ProfileClient& client) {
  auto reply = net::HttpClient::unixSocket(client.paths().docker_socket)
                   .get("/version", std::chrono::seconds(10));
  if (reply.status != 200) return "";
  try {
    return nlohmann::json::parse(reply.body).value("Version", "");
  } catch (const std::exception&) {
    return "";
  }
}

void update(const UpdateOptions& o) {
  ProfileClient client(o.profile);
  const std::string& name = client.paths().name;
  client.requireExists();
  const auto driver = vm::DriverFactory::makeDriver(client.loadConfig(true), client.paths());
  const std::string host = driver->hostEngineVersion();
  if (host.empty()) {
    throw std::runtime_error("berth update is not built yet for the " + driver->name() +
                             " driver (its engine comes from the guest's packages); nothing was "
                             "changed");
  }
  const auto status = client.status(std::chrono::seconds(3));
  const bool up = status && (*status)["status"] == "Running";
  const std::string before = up ? runningEngineVersion(client) : "";
  if (before.empty()) {
    std::cout << "profile '" << name << "': the engine is not running; its next boot runs the "
              << "host's dockerd " << host << "\n";
    return;
  }
  if (before == host) {
    std::cout << "profile '" << name << "': engine " << before
              << " is the host's installed dockerd already; nothing to update\n";
    return;
  }
  if (o.dry_run) {
    std::cout << "profile '" << name
              << "': would restart the engine onto the host's dockerd: " << before << " -> " << host
              << " (containers with restart policies come back; nothing was changed)\n";
    return;
  }
  std::cerr << "berth: restarting profile '" << name << "' onto the host's dockerd " << host
            << "\n";
  restartProfile(o.profile);
  const std::string after = runningEngineVersion(client);
  std::cout << "profile '" << name << "': engine " << before << " -> "
            << (after.empty() ? "(not answering)" : after) << "\n";
  if (after != host) {
    throw std::runtime_error("the engine answers as " + (after.empty() ? "nothing" : after) +
                             ", not the host's dockerd " + host + " (see " +
                             client.paths().log_file + ")");
  }
}

}  // namespace

void registerUpdateCommand(CLI::App& app) {
  auto o = std::make_shared<UpdateOptions>();
  auto* cmd = app.add_subcommand(
      "update", "Update the profile's engine (ns: restart it onto the host's installed dockerd)");
  o->profile.addTo(cmd);
  cmd->add_flag("--dry-run", o->dry_run, "Say what would change, change nothing");
  cmd->callback([o] { update(*o); });
}

}  // namespace berth::cli
