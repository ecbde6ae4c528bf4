// `berth update [profile] [--dry-run]` (Colima's update): moves the guest's engine to the newest
// version its source offers. ns driver: the engine is the host's installed dockerd, so an update
// is a restart of the guest onto it (a machine shutdown: containers with restart policies come
// back), saying the versions before and after. Drivers whose engine comes from the guest's own
// packages (qemu): the engine's package is moved to the newest version the guest's apt sources
// offer (GuestPackageUpdate), the engine restarted, and its answer checked.
#include <CLI/CLI.hpp>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "api/RestartPolicy.h"
#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "server/net/ChildProcess.h"
#include "server/net/HttpClient.h"
#include "vm/ContainerdRuntime.h"
#include "vm/DriverFactory.h"
#include "vm/GuestPackageUpdate.h"
#include "vm/Runtime.h"

namespace berth::cli {
namespace {

using namespace std::chrono_literals;

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

// The version the guest's running containerd reports (`ctr version`, its Server part), or ""
// when it does not answer.
std::string runningContainerdVersion(const vm::Driver& driver) {
  const auto result = net::ChildProcess::run(driver.shellArgv({"ctr version"}, false), 30s);
  return result.exit_code == 0 ? vm::ContainerdRuntime::serverVersion(result.output) : "";
}

// The engine's version once it answers again after a restart (docker: through the profile's
// relay, as clients reach it; containerd: in the guest), or "" when it did not within `wait`.
std::string answeringEngineVersion(const ProfileClient& client, const vm::Driver& driver,
                                   std::chrono::seconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const std::string version = driver.runtime().servesDockerApi()
                                    ? runningEngineVersion(client)
                                    : runningContainerdVersion(driver);
    if (!version.empty() || std::chrono::steady_clock::now() > deadline) return version;
    std::this_thread::sleep_for(1s);
  }
}

// The inspect body of container `id` through the profile's relay, or null when it does not
// answer.
nlohmann::json inspectContainer(const ProfileClient& client, const std::string& id) {
  auto reply = net::HttpClient::unixSocket(client.paths().docker_socket)
                   .get("/containers/" + id + "/json", std::chrono::seconds(10));
  if (reply.status != 200) return nullptr;
  return nlohmann::json::parse(reply.body, nullptr, false);
}

// Ids of the running containers that the engine restarts by itself (always, unless-stopped).
std::vector<std::string> containersThatComeBack(const ProfileClient& client) {
  auto reply = net::HttpClient::unixSocket(client.paths().docker_socket)
                   .get("/containers/json", std::chrono::seconds(10));
  const auto list = nlohmann::json::parse(reply.body, nullptr, false);
  std::vector<std::string> ids;
  if (reply.status != 200 || !list.is_array()) return ids;
  for (const auto& entry : list) {
    const std::string id = entry.is_object() ? entry.value("Id", "") : "";
    if (!id.empty() && api::comesBackAfterEngineRestart(inspectContainer(client, id)))
      ids.push_back(id);
  }
  return ids;
}

// Waits until every container of `ids` runs again after the engine restarted (the engine
// starts them while it comes up, under TCG one by one); returns those that did not within
// `wait` (short ids).
std::vector<std::string> notBackYet(const ProfileClient& client,
                                    const std::vector<std::string>& ids,
                                    std::chrono::seconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    std::vector<std::string> missing;
    for (const auto& id : ids) {
      if (!api::runningNow(inspectContainer(client, id))) missing.push_back(id.substr(0, 12));
    }
    if (missing.empty() || std::chrono::steady_clock::now() > deadline) return missing;
    std::this_thread::sleep_for(1s);
  }
}

// qemu: the guest's engine package from the guest's own apt sources.
void updateGuestPackage(const UpdateOptions& o, const ProfileClient& client,
                        const vm::Driver& driver) {
  const std::string& name = client.paths().name;
  const auto status = client.status(std::chrono::seconds(3));
  if (!status || (*status)["status"] != "Running") {
    throw std::runtime_error("profile '" + name + "' is not running: its engine is updated from " +
                             "inside the guest, so start it first (berth start -p " + name +
                             "); nothing was changed");
  }
  const vm::Runtime& runtime = driver.runtime();
  const std::string package = runtime.guestPackage();
  const auto progress = [](const std::string& line) { std::cerr << "berth: " << line << "\n"; };
  const vm::GuestPackageUpdate apt(driver, package, runtime.guestService());
  const vm::PackageVersions versions = apt.check(progress);
  if (versions.candidate.empty()) {
    throw std::runtime_error("no package source of the guest offers " + package +
                             "; nothing was changed");
  }
  if (versions.upToDate()) {
    std::cout << "profile '" << name << "': " << package << " " << versions.installed
              << " is already the newest, nothing to update\n";
    return;
  }
  const std::string before = versions.installed.empty() ? "(none)" : versions.installed;
  if (o.dry_run) {
    std::cout << "profile '" << name << "': would update " << package << ": " << before << " -> "
              << versions.candidate << " (the engine restarts; containers with restart policies "
              << "come back; nothing was changed)\n";
    return;
  }
  const bool docker_api = runtime.servesDockerApi();
  const auto coming_back = docker_api ? containersThatComeBack(client) : std::vector<std::string>{};
  const std::string after = apt.install(versions.candidate, progress);
  std::cout << "profile '" << name << "': " << package << " " << before << " -> " << after << "\n";
  if (after != versions.candidate) {
    throw std::runtime_error("the guest has " + package + " " + after + " installed, not " +
                             versions.candidate);
  }
  progress("waiting for " + runtime.engineProgram() + " to answer");
  const std::string engine = answeringEngineVersion(client, driver, 300s);
  const std::string expected = vm::GuestPackageUpdate::upstreamVersion(after);
  if (engine != expected) {
    throw std::runtime_error(runtime.engineProgram() + " answers as " +
                             (engine.empty() ? "nothing" : engine) + ", not " + expected +
                             " (see berth ssh -p " + name + " -- journalctl -u " +
                             runtime.guestService() + ")");
  }
  std::cout << "profile '" << name << "': " << runtime.engineProgram() << " " << engine
            << " answers\n";
  if (coming_back.empty()) return;
  progress("waiting for " + std::to_string(coming_back.size()) +
           " container(s) with restart policies to run again");
  const auto missing = notBackYet(client, coming_back, 180s);
  if (!missing.empty()) {
    std::string list;
    for (const auto& id : missing) list += (list.empty() ? "" : ", ") + id;
    throw std::runtime_error("container(s) " + list + " with restart policies did not run again " +
                             "after the engine restarted (see docker inspect)");
  }
  std::cout << "profile '" << name << "': " << coming_back.size()
            << " container(s) with restart policies running again\n";
}

void update(const UpdateOptions& o) {
  ProfileClient client(o.profile);
  const std::string& name = client.paths().name;
  client.requireExists();
  const auto driver = vm::DriverFactory::makeDriver(client.loadConfig(true), client.paths());
  const std::string host = driver->hostEngineVersion();
  if (host.empty()) {
    updateGuestPackage(o, client, *driver);
    return;
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
      "update", "Update the profile's engine (qemu: the guest's package; ns: the host's dockerd)");
  o->profile.addTo(cmd);
  cmd->add_flag("--dry-run", o->dry_run, "Say what would change, change nothing");
  cmd->callback([o] { update(*o); });
}

}  // namespace berth::cli
