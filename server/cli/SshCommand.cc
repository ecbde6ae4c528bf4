// `berth ssh [profile] [-- cmd...]`: a shell, or one command, inside the profile's guest;
// and `berth ns-init`, the hidden first process of an `ns` guest.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "vm/DriverFactory.h"
#include "vm/NsGuestInit.h"

namespace berth::cli {
namespace {

struct SshOptions {
  ProfileArgs profile;
};

[[noreturn]] void runSsh(const SshOptions& o, const std::vector<std::string>& command) {
  ProfileClient client(o.profile);
  client.requireExists();
  const vm::ProfileConfig config = client.loadConfig(true);
  // This process becomes the shell or command (exec): idle stop waits for it, and a lazy or
  // idle-stopped guest whose daemon runs is booted first (held before, so none stops between).
  client.holdWhileRunning(::getpid());
  client.bootIfDown();
  execProgram(vm::DriverFactory::makeDriver(config, client.paths())
                  ->shellArgv(command, command.empty() && ::isatty(0)));
}

}  // namespace

void registerSshCommands(CLI::App& app) {
  auto o = std::make_shared<SshOptions>();
  auto* ssh = app.add_subcommand(
      "ssh", "Open a shell in the profile's guest, or run: berth ssh [profile] -- CMD ARGS");
  o->profile.addTo(ssh);
  ssh->callback([o] { runSsh(*o, commandTail()); });

  auto c = std::make_shared<ProfileArgs>();
  auto* config =
      app.add_subcommand("ssh-config", "Print an ssh_config block for the profile's guest (qemu)");
  c->addTo(config);
  config->callback([c] {
    ProfileClient client(*c);
    client.requireExists();
    std::cout
        << vm::DriverFactory::makeDriver(client.loadConfig(true), client.paths())->sshConfig();
  });

  auto guest_json = std::make_shared<std::string>();
  auto* init = app.add_subcommand("ns-init", "");  // internal: the ns guest's first process
  init->group("");
  init->add_option("guest-json", *guest_json)->required();
  init->callback([guest_json] { std::exit(vm::NsGuestInit::run(*guest_json)); });
}

}  // namespace berth::cli
