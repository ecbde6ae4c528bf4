// `berth ssh [-p profile] [-- cmd...]`: a shell, or one command, inside the profile's guest;
// and `berth ns-init`, the hidden first process of an `ns` guest.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "vm/NsDriver.h"
#include "vm/NsGuestInit.h"

namespace berth::cli {
namespace {

struct SshOptions {
  ProfileArgs profile;
  std::vector<std::string> command;
};

[[noreturn]] void runSsh(const SshOptions& o) {
  ProfileClient client(o.profile);
  if (!client.exists()) {
    throw std::runtime_error("profile '" + client.paths().name + "' does not exist");
  }
  const vm::ProfileConfig config = client.loadConfig(true);
  if (config.vm_type != "ns") {
    // Wiring point (qemu driver, issue 5): ssh with the profile's key and port here.
    throw std::runtime_error("berth ssh is not available yet for the " + config.vm_type +
                             " driver");
  }
  std::vector<std::string> argv = vm::NsDriver::shellCommand(client.paths(), o.command);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(errno));
}

}  // namespace

void registerSshCommands(CLI::App& app) {
  auto o = std::make_shared<SshOptions>();
  auto* ssh = app.add_subcommand(
      "ssh", "Open a shell in the profile's guest, or run: berth ssh -- CMD ARGS");
  o->profile.addTo(ssh, false);
  ssh->add_option("command", o->command, "Command to run in the guest (after --)");
  ssh->callback([o] { runSsh(*o); });

  auto guest_json = std::make_shared<std::string>();
  auto* init = app.add_subcommand("ns-init", "");  // internal: the ns guest's first process
  init->group("");
  init->add_option("guest-json", *guest_json)->required();
  init->callback([guest_json] { std::exit(vm::NsGuestInit::run(*guest_json)); });
}

}  // namespace berth::cli
