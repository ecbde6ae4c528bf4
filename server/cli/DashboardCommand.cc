// `berth dashboard [profile] [-p P] [--no-open]`: turns the profile daemon's dashboard on (for
// the daemon's life) through the control API, prints its address with the token, and opens it
// with xdg-open when a desktop session exists.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "server/net/ChildProcess.h"
#include "server/net/HttpClient.h"

namespace berth::cli {
namespace {

struct DashboardOptions {
  ProfileArgs profile;
  bool no_open = false;
};

bool desktopSession() {
  const char* display = std::getenv("DISPLAY");
  const char* wayland = std::getenv("WAYLAND_DISPLAY");
  return (display && *display) || (wayland && *wayland);
}

void openInBrowser(const std::string& url) {
  if (net::ChildProcess::which("xdg-open").empty()) {
    std::cerr << "berth: no xdg-open here: open the address above in a browser\n";
    return;
  }
  net::SpawnOptions spawn;
  spawn.argv = {"xdg-open", url};
  spawn.new_session = true;
  spawn.output = "/dev/null";
  try {
    net::ChildProcess::spawn(spawn);
  } catch (const std::exception& e) {
    std::cerr << "berth: " << e.what() << ": open the address above in a browser\n";
  }
}

void runDashboard(const DashboardOptions& o) {
  ProfileClient client(o.profile);
  client.requireExists();
  const auto reply = net::HttpClient::unixSocket(client.paths().control_socket)
                         .post("/dashboard", std::chrono::seconds(10));
  if (reply.status == 0) {
    throw std::runtime_error("profile '" + client.paths().name + "' is not running (" +
                             client.command("start") + " first)");
  }
  // Not JSON (or not an object): the generic message below, with the log to read.
  auto body = nlohmann::json::parse(reply.body, nullptr, false);
  if (!body.is_object()) body = nlohmann::json::object();
  if (reply.status != 200 || !body.contains("url")) {
    throw std::runtime_error(body.value("message", "the daemon did not serve the dashboard") +
                             " (see " + client.paths().log_file + ")");
  }
  const std::string url = body["url"];
  std::cout << url << "\n" << std::flush;
  if (!o.no_open && desktopSession()) openInBrowser(url);
}

}  // namespace

void registerDashboardCommand(CLI::App& app) {
  auto o = std::make_shared<DashboardOptions>();
  auto* cmd = app.add_subcommand(
      "dashboard", "Serve the profile's dashboard on 127.0.0.1 and print its address");
  o->profile.addTo(cmd);
  cmd->add_flag("--no-open", o->no_open, "Only print the address (never run xdg-open)");
  cmd->callback([o] { runDashboard(*o); });
}

}  // namespace berth::cli
