// `berth service install|remove [-p P] [--user]` and `berth service unit service|socket`: run
// a profile's daemon as a socket-activated systemd service (berth@P.socket owns its docker.sock;
// the first request starts berth@P.service, which boots the guest), for the system manager
// (root) or the user's (--user, or when not root).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "server/cli/Cli.h"
#include "server/cli/FlagChoices.h"
#include "server/cli/ProfileClient.h"
#include "server/cli/ServiceUnits.h"
#include "server/net/ChildProcess.h"
#include "server/net/Files.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;

struct ServiceOptions {
  ProfileArgs profile;
  bool user = false;
};

// Where one scope's units live: the package's folder, and the one berth writes to otherwise.
struct Scope {
  bool user = false;
  std::string packaged_dir;
  std::string written_dir;

  std::vector<std::string> systemctl(std::vector<std::string> args) const {
    args.insert(args.begin(), "systemctl");
    if (user) args.insert(args.begin() + 1, "--user");
    return args;
  }
};

std::string homeDir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0')
    throw std::runtime_error("HOME is not set; the service units serve ~/.berth/<profile>");
  return home;
}

Scope scopeFor(bool user_flag) {
  Scope scope;
  scope.user = user_flag || ::geteuid() != 0;
  if (scope.user) {
    const char* config = std::getenv("XDG_CONFIG_HOME");
    scope.packaged_dir = "/usr/lib/systemd/user";
    scope.written_dir =
        (config != nullptr && *config != '\0' ? std::string(config) : homeDir() + "/.config") +
        "/systemd/user";
  } else {
    scope.packaged_dir = "/usr/lib/systemd/system";
    scope.written_dir = "/etc/systemd/system";
  }
  return scope;
}

// Refuses, with what to do instead, when that scope's service manager does not run here.
void requireSystemd(const Scope& scope) {
  const bool up = scope.user
                      ? net::ChildProcess::run(scope.systemctl({"show-environment"})).exit_code == 0
                      : fs::is_directory("/run/systemd/system");
  if (!up) {
    throw std::runtime_error(std::string("systemd's ") + (scope.user ? "user" : "system") +
                             " manager is not running here, so no service can be installed; "
                             "berth start runs the profile's daemon instead");
  }
}

void requireProfileUnderHome(const ProfileClient& client) {
  const std::string expected = homeDir() + "/.berth/" + client.paths().name + "/docker.sock";
  if (client.paths().docker_socket != expected) {
    throw std::runtime_error("the service units serve profiles under ~/.berth, and profile '" +
                             client.paths().name + "' lives under " + client.paths().home_dir +
                             " (unset BERTH_HOME)");
  }
  client.requireExists(" --lazy");
}

std::string unitName(const std::string& kind, const std::string& profile) {
  return "berth@" + profile + "." + kind;
}

void install(const ServiceOptions& o) {
  ProfileClient client(o.profile);
  const Scope scope = scopeFor(o.user);
  requireProfileUnderHome(client);
  requireSystemd(scope);
  if (client.status(std::chrono::seconds(2))) {
    throw std::runtime_error("profile '" + client.paths().name +
                             "' is running (berth start); stop it first (" +
                             client.command("stop") + "), then install its service");
  }
  if (!fs::exists(scope.packaged_dir + "/berth@.socket")) {
    fs::create_directories(scope.written_dir);
    net::Files::writeAtomic(scope.written_dir + "/berth@.socket", ServiceUnits::socketUnit());
    net::Files::writeAtomic(scope.written_dir + "/berth@.service",
                            ServiceUnits::serviceUnit(net::ChildProcess::selfExecutable()));
    std::cerr << "berth: wrote " << scope.written_dir << "/berth@.socket and berth@.service\n";
  }
  net::ChildProcess::check(scope.systemctl({"daemon-reload"}), "reloading systemd");
  net::ChildProcess::check(
      scope.systemctl({"enable", "--now", unitName("socket", client.paths().name)}),
      "enabling the socket unit");
  std::cerr << "berth: systemd listens on " << client.paths().docker_socket << " ("
            << unitName("socket", client.paths().name)
            << "); the first request starts the profile's daemon and boots the guest ("
            << "berth service remove"
            << (client.paths().name == "default" ? "" : " -p " + client.paths().name)
            << " undoes it)\n";
}

void remove(const ServiceOptions& o) {
  ProfileClient client(o.profile);
  const Scope scope = scopeFor(o.user);
  requireSystemd(scope);
  const std::string name = client.paths().name;
  net::ChildProcess::check(
      scope.systemctl({"disable", "--now", unitName("socket", name), unitName("service", name)}),
      "disabling the units");
  // The template units berth wrote go when no other profile's socket is enabled.
  const std::string wants = scope.written_dir + "/sockets.target.wants";
  bool others = false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(wants, ec))
    others = others || entry.path().filename().string().rfind("berth@", 0) == 0;
  if (!others && fs::exists(scope.written_dir + "/berth@.socket")) {
    fs::remove(scope.written_dir + "/berth@.socket", ec);
    fs::remove(scope.written_dir + "/berth@.service", ec);
    net::ChildProcess::run(scope.systemctl({"daemon-reload"}));
  }
  std::cerr << "berth: profile '" << name << "' is no longer a systemd service ("
            << client.command("start") << " runs it)\n";
}

}  // namespace

void registerServiceCommands(CLI::App& app) {
  auto* service =
      app.add_subcommand("service", "Run a profile's daemon as a socket-activated systemd service");
  service->require_subcommand(1);

  auto install_options = std::make_shared<ServiceOptions>();
  auto* install_cmd = service->add_subcommand(
      "install", "Enable berth@PROFILE.socket: the first request starts the daemon and the guest");
  install_options->profile.addTo(install_cmd, false);
  install_cmd->add_flag("--user", install_options->user,
                        "Use the user's systemd (systemctl --user; the default when not root)");
  install_cmd->callback([install_options] { install(*install_options); });

  auto remove_options = std::make_shared<ServiceOptions>();
  auto* remove_cmd =
      service->add_subcommand("remove", "Disable and stop the profile's socket and service units");
  remove_options->profile.addTo(remove_cmd, false);
  remove_cmd->add_flag("--user", remove_options->user,
                       "Use the user's systemd (systemctl --user; the default when not root)");
  remove_cmd->callback([remove_options] { remove(*remove_options); });

  auto kind = std::make_shared<std::string>();
  auto binary = std::make_shared<std::string>();
  auto* unit_cmd = service->add_subcommand(
      "unit", "Print the template unit berth service install writes (and the .deb ships)");
  FlagChoices::attach(unit_cmd->add_option("kind", *kind, "Which unit")->required(),
                      {"service", "socket"});
  unit_cmd->add_option("--bin", *binary, "The berth the service runs (default: this one)");
  unit_cmd->callback([kind, binary] {
    std::cout << (*kind == "socket"
                      ? ServiceUnits::socketUnit()
                      : ServiceUnits::serviceUnit(
                            binary->empty() ? net::ChildProcess::selfExecutable() : *binary));
  });
}

}  // namespace berth::cli
