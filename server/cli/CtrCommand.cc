// `berth ctr [PROFILE | -p P] -- ARGS` and `berth nerdctl [PROFILE | -p P] -- ARGS` (the profile
// named as `berth ssh` takes it): containerd's tools run inside
// the guest of a containerd profile (ns: in its namespaces; qemu: over its ssh, with a terminal
// when the caller has one), pointed at the guest's containerd; stdin, stdout, stderr and the
// exit code are the tool's own (berth execs it, or the ssh that runs it). A lazy profile
// whose daemon runs is booted first, and idle stop waits for the tool to exit. `berth nerdctl
// install` puts a `nerdctl` command on PATH.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "server/net/ChildProcess.h"
#include "server/net/Files.h"
#include "vm/ContainerdRuntime.h"
#include "vm/DriverFactory.h"

namespace berth::cli {
namespace {

// The profile's config, when it is a containerd profile; else throws the line that says so.
vm::ProfileConfig containerdConfig(const ProfileClient& client) {
  client.requireExists();
  vm::ProfileConfig config = client.loadConfig(true);
  if (config.runtime != "containerd") {
    throw std::runtime_error("profile '" + client.paths().name + "' runs " + config.runtime +
                             ", not containerd: use docker with it, or make a containerd profile "
                             "(berth start -p NAME --runtime containerd)");
  }
  return config;
}

// The one line that says nerdctl is missing, and how to provide it on this driver.
std::string nerdctlMissing(const vm::Driver& driver) {
  return driver.runsHostPrograms()
             ? "nerdctl is not installed: it is not a Debian package; set nerdctl.binary in the "
               "profile's berth.yaml to a nerdctl release binary (copied into the guest at boot) "
               "or put one on this host's PATH, or use berth ctr -- ARGS"
             : "nerdctl is not installed in the guest: it is not a Debian package; set "
               "nerdctl.binary in the profile's berth.yaml to a nerdctl release binary (copied "
               "into the guest at boot), or use berth ctr -- ARGS";
}

// Runs `program` with `args` (its address first), then the words after `--`, in the guest of
// the client's profile (booted first when it is idle, and held up while it runs); never
// returns. A VM guest's nerdctl from its PATH is looked for first: its absence is said in one
// line.
[[noreturn]] void runInGuest(const ProfileClient& client, const vm::Driver& driver,
                             const std::string& program, std::vector<std::string> args) {
  const auto& tail = commandTail();
  args.insert(args.end(), tail.begin(), tail.end());
  // This process becomes the tool (exec): idle stop waits for it. Asked before the boot, so
  // that no idle stop can come between the guest being up and the tool running.
  client.holdWhileRunning(::getpid());
  client.bootIfDown();
  if (program == "nerdctl" && !driver.runsHostPrograms()) {
    const auto found = net::ChildProcess::run(
        driver.execArgv({"sh", "-c", "command -v nerdctl"}, false), std::chrono::seconds(30));
    // Not found: 1 (bash) or 127 (dash); ssh's own failures (255) are left to the run itself.
    if (found.exit_code > 0 && found.exit_code != 255)
      throw std::runtime_error(nerdctlMissing(driver));
  }
  args.insert(args.begin(), program);
  execProgram(driver.execArgv(args, ::isatty(0) && ::isatty(1)));
}

// `berth nerdctl install [-p P] [--path DIR]`: a `nerdctl` command on PATH that runs
// `berth nerdctl -p P -- ARGS` (as `colima nerdctl install` does). A file berth did not write
// is never replaced.
void registerNerdctlInstall(CLI::App* nerdctl,
                            const std::shared_ptr<ProfileArgs>& nerdctl_profile) {
  struct Options {
    ProfileArgs profile;
    std::string dir = "/usr/local/bin";
  };
  auto o = std::make_shared<Options>();
  auto* install = nerdctl->add_subcommand(
      "install",
      "Write a nerdctl command into DIR (default /usr/local/bin) that runs berth nerdctl");
  o->profile.addTo(install, false);
  install->add_option("--path", o->dir, "The folder to write nerdctl into (on PATH)");
  install->callback([o, nerdctl_profile] {
    // `berth nerdctl -p P install` names the profile as well as `berth nerdctl install -p P`.
    ProfileClient client(o->profile.flag.empty() ? *nerdctl_profile : o->profile);
    client.requireExists();
    if (!std::filesystem::is_directory(o->dir))
      throw std::runtime_error(o->dir + " is not a folder; create it or pick another --path");
    const std::string target = o->dir + "/nerdctl";
    constexpr const char* kMarker = "# written by berth nerdctl install";
    if (std::filesystem::exists(target) &&
        net::Files::readOr(target).find(kMarker) == std::string::npos) {
      throw std::runtime_error(target +
                               " exists and was not written by berth; remove it or "
                               "pick another --path");
    }
    std::string berth = "'";  // the path in single quotes, a quote in it as '\''
    for (char c : net::ChildProcess::selfExecutable())
      berth += c == '\'' ? "'\\''" : std::string(1, c);
    berth += "'";
    // Profile names are [a-z0-9-]: nothing to quote.
    const std::string script = std::string("#!/bin/sh\n") + kMarker + " (profile " +
                               client.paths().name + ")\nexec " + berth + " nerdctl -p " +
                               client.paths().name + " -- \"$@\"\n";
    net::Files::writeAtomic(target, script, 0755);
    std::cout << "wrote " << target << ": nerdctl ARGS runs berth nerdctl -p "
              << client.paths().name << " -- ARGS\n";
  });
}

}  // namespace

void registerCtrCommands(CLI::App& app) {
  auto ctr_profile = std::make_shared<ProfileArgs>();
  auto* ctr = app.add_subcommand(
      "ctr", "Run containerd's ctr in a containerd profile's guest: berth ctr [PROFILE] -- ARGS");
  ctr_profile->addTo(ctr);
  ctr->callback([ctr_profile] {
    ProfileClient client(*ctr_profile);
    const auto driver = vm::DriverFactory::makeDriver(containerdConfig(client), client.paths());
    // The guest's own ctr; on ns the host's (found here, so that its absence is said clearly).
    const std::string socket = driver->guestEngineSocket();
    const auto ctr_argv = driver->runsHostPrograms()
                              ? vm::ContainerdRuntime::ctrArgv(socket)
                              : std::vector<std::string>{"ctr", "--address", socket};
    runInGuest(client, *driver, ctr_argv.front(), {ctr_argv.begin() + 1, ctr_argv.end()});
  });

  auto nerdctl_profile = std::make_shared<ProfileArgs>();
  auto* nerdctl = app.add_subcommand(
      "nerdctl", "Run nerdctl in a containerd profile's guest: berth nerdctl [PROFILE] -- ARGS");
  nerdctl_profile->addTo(nerdctl);
  registerNerdctlInstall(nerdctl, nerdctl_profile);
  nerdctl->callback([nerdctl, nerdctl_profile] {
    if (nerdctl->got_subcommand("install")) return;
    ProfileClient client(*nerdctl_profile);
    // A docker profile is told so before nerdctl is looked for.
    const vm::ProfileConfig config = containerdConfig(client);
    const auto driver = vm::DriverFactory::makeDriver(config, client.paths());
    const std::string socket = driver->guestEngineSocket();
    std::string nerdctl_path = "nerdctl";  // a VM guest's own (runInGuest looks for it)
    std::vector<std::string> args = {"--address", socket};
    if (!driver->runsHostPrograms() && !config.nerdctl.binary.empty()) {
      // The copy the driver put in the VM guest at boot. ssh passes no environment: nerdctl
      // gets the address and namespace as it does on ns, through env.
      const char* ns = std::getenv("CONTAINERD_NAMESPACE");
      nerdctl_path = "env";
      args = {"CONTAINERD_ADDRESS=" + socket,
              std::string("CONTAINERD_NAMESPACE=") + (ns != nullptr && *ns ? ns : "default"),
              vm::ContainerdRuntime::kVmNerdctl, "--address", socket};
    }
    if (driver->runsHostPrograms()) {
      // The profile's copy of nerdctl.binary, else the host's (the ns guest runs the host's
      // programs: its mount namespace is the host's, plus shares).
      nerdctl_path = vm::ContainerdRuntime::guestNerdctl(client.paths());
      if (::access(nerdctl_path.c_str(), X_OK) != 0)
        nerdctl_path = net::ChildProcess::which("nerdctl");
      if (nerdctl_path.empty()) throw std::runtime_error(nerdctlMissing(*driver));
      // nerdctl reads its address and namespace from the environment too (as ctr does): the
      // caller's CONTAINERD_NAMESPACE goes through, nerdctl's own default otherwise.
      ::setenv("CONTAINERD_ADDRESS", socket.c_str(), 1);
      ::setenv("CONTAINERD_NAMESPACE", "default", 0);
    }
    runInGuest(client, *driver, nerdctl_path, std::move(args));
  });
}

}  // namespace berth::cli
