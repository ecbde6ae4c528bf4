// `berth ctr [-p P] -- ARGS` and `berth nerdctl [-p P] -- ARGS`: containerd's tools run inside
// the guest of a containerd profile (ns: in its namespaces), pointed at the guest's containerd;
// stdin, stdout, stderr and the exit code are the tool's own (berth execs it). A lazy profile
// whose daemon runs is booted first.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "server/net/ChildProcess.h"
#include "vm/ContainerdRuntime.h"
#include "vm/DriverFactory.h"

namespace berth::cli {
namespace {

constexpr auto kBootLimit = std::chrono::minutes(3);

// Boots the guest through its daemon when the daemon runs and the guest is down (lazy, idle
// stopped); returns when it is up. Without a daemon, the driver's own check says what to do.
void bootIfIdle(const ProfileClient& client) {
  auto status = client.status();
  if (!status || (*status)["boot"].value("state", "") == "up") return;
  client.requestBoot();
  const auto deadline = std::chrono::steady_clock::now() + kBootLimit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    status = client.status();
    if (!status) break;
    const auto& boot = (*status)["boot"];
    const std::string state = boot.value("state", "");
    if (state == "up") return;
    if (state == "down" && !boot.value("lastError", std::string()).empty()) {
      throw std::runtime_error("the guest of profile '" + client.paths().name +
                               "' failed to boot: " + boot["lastError"].get<std::string>());
    }
  }
  throw std::runtime_error("the guest of profile '" + client.paths().name +
                           "' did not come up (see " + client.paths().log_file + ")");
}

// Runs `tool_argv` (the tool and its address), then the words after `--`, in the guest of the
// profile; never returns.
[[noreturn]] void runInGuest(const ProfileArgs& profile, const std::string& tool,
                             std::vector<std::string> tool_argv) {
  const auto& tail = commandTail();
  tool_argv.insert(tool_argv.end(), tail.begin(), tail.end());
  ProfileClient client(profile);
  if (!client.exists()) {
    throw std::runtime_error("profile '" + client.paths().name + "' does not exist");
  }
  const vm::ProfileConfig config = client.loadConfig(true);
  if (config.runtime != "containerd") {
    throw std::runtime_error("profile '" + client.paths().name + "' runs " + config.runtime +
                             ", not containerd: use docker with it, or make a containerd profile "
                             "(berth start -p NAME --runtime containerd --vm-type ns)");
  }
  bootIfIdle(client);
  execProgram(vm::DriverFactory::makeDriver(config, client.paths())
                  ->shellArgv(tool_argv, tool == "nerdctl" && ::isatty(0) && ::isatty(1)));
}

}  // namespace

void registerCtrCommands(CLI::App& app) {
  auto ctr_profile = std::make_shared<ProfileArgs>();
  auto* ctr = app.add_subcommand(
      "ctr", "Run containerd's ctr in a containerd profile's guest: berth ctr [-p P] -- ARGS");
  ctr_profile->addTo(ctr, false);
  ctr->callback([ctr_profile] {
    ProfileClient client(*ctr_profile);
    runInGuest(*ctr_profile, "ctr", vm::ContainerdRuntime::ctrArgv(client.paths().engine_socket));
  });

  auto nerdctl_profile = std::make_shared<ProfileArgs>();
  auto* nerdctl = app.add_subcommand(
      "nerdctl", "Run nerdctl in a containerd profile's guest: berth nerdctl [-p P] -- ARGS");
  nerdctl_profile->addTo(nerdctl, false);
  nerdctl->callback([nerdctl_profile] {
    ProfileClient client(*nerdctl_profile);
    // The ns guest runs the host's programs (its mount namespace is the host's, plus shares).
    const std::string nerdctl_path = net::ChildProcess::which("nerdctl");
    if (nerdctl_path.empty()) {
      throw std::runtime_error(
          "nerdctl is not installed: it is not a Debian package; put a nerdctl release binary "
          "on this host's PATH (e.g. /usr/local/bin/nerdctl, which the ns guest sees), or use "
          "berth ctr -- ARGS");
    }
    runInGuest(*nerdctl_profile, "nerdctl",
               {nerdctl_path, "--address", client.paths().engine_socket});
  });
}

}  // namespace berth::cli
