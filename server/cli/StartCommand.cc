// `berth start [profile] [flags]` and `berth restart [profile]`: layer the profile's config
// (flags > berth.yaml > template > defaults), refuse what cannot change, write berth.yaml and
// the docker context, launch the profile's daemon and show the boot's progress.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "server/DockerSockLink.h"
#include "server/ProfileDaemon.h"
#include "server/UnixListener.h"
#include "server/cli/Cli.h"
#include "server/cli/DockerContext.h"
#include "server/cli/Editor.h"
#include "server/cli/FlagChoices.h"
#include "server/cli/ProfileClient.h"
#include "server/cli/SettingsCheck.h"
#include "server/net/Log.h"
#include "vm/DriverFactory.h"
#include "vm/MountFlag.h"
#include "vm/PrivateDir.h"

namespace berth::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct StartOptions {
  ProfileArgs profile;
  int cpus = 0;
  double memory = 0;
  int disk = 0;
  std::string arch, runtime, vm_type, mount_type, kubernetes_version, idle_stop, disk_image;
  std::vector<std::string> mounts, dns, env, listen;
  bool kubernetes = false;
  bool lazy = false;
  bool activate = true;
  bool edit = false;
  bool foreground = false;
  bool docker_sock = false;
  CLI::App* cmd = nullptr;  // to ask which flags were given

  bool given(const char* flag) const { return cmd != nullptr && cmd->count(flag) > 0; }
};

// Applies the flags that were given on top of `config`.
void applyFlags(const StartOptions& o, vm::ProfileConfig& config) {
  if (o.given("--cpus")) config.cpus = o.cpus;
  if (o.given("--memory")) config.memory = o.memory;
  if (o.given("--disk")) config.disk = o.disk;
  if (o.given("--arch")) config.arch = o.arch;
  if (o.given("--runtime")) config.runtime = o.runtime;
  if (o.given("--vm-type")) config.vm_type = o.vm_type;
  if (o.given("--mount-type")) config.mount_type = o.mount_type;
  if (o.given("--disk-image")) config.disk_image = o.disk_image;
  if (o.given("--mount")) {
    const char* home = std::getenv("HOME");
    config.mounts = vm::MountFlag::parseAll(o.mounts, home != nullptr ? home : "");
  }
  if (o.given("--dns")) config.network.dns = o.dns;
  if (o.given("--env")) {
    for (const auto& entry : o.env) {
      auto eq = entry.find('=');
      if (eq == 0 || eq == std::string::npos) {
        throw std::invalid_argument("--env '" + entry + "' must be KEY=VALUE");
      }
      config.env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
  }
  if (o.given("--kubernetes")) config.kubernetes.enabled = o.kubernetes;
  if (o.given("--kubernetes-version")) config.kubernetes.version = o.kubernetes_version;
  if (o.given("--lazy")) config.boot.lazy = o.lazy;
  if (o.given("--idle-stop")) config.boot.idle_stop = o.idle_stop;
  if (o.given("--listen")) config.listen = o.listen;
  if (o.given("--docker-sock")) config.docker_sock = o.docker_sock;
}

bool anySettingGiven(const StartOptions& o) {
  for (const char* flag :
       {"--cpus", "--memory", "--disk", "--arch", "--runtime", "--vm-type", "--mount-type",
        "--disk-image", "--mount", "--dns", "--env", "--kubernetes", "--kubernetes-version",
        "--lazy", "--idle-stop", "--listen", "--docker-sock"}) {
    if (o.given(flag)) return true;
  }
  return false;
}

std::string describeFor(const vm::ProfilePaths& paths) { return "berth profile " + paths.name; }

// A containerd profile answers the Docker API with a refusal: its usage names ctr/nerdctl.
bool runsContainerd(const vm::ProfileConfig& config) { return config.runtime == "containerd"; }

void printUsage(const ProfileClient& client, const vm::ProfileConfig& config, bool activated) {
  const auto& paths = client.paths();
  if (runsContainerd(config)) {
    const std::string p =
        paths.name == vm::ProfilePaths::kDefaultProfile ? "" : " -p " + paths.name;
    std::cout << "To use it:  berth ctr" << p << " -- images ls       (or berth nerdctl" << p
              << " -- ...)\n"
              << "       or:  export CONTAINERD_ADDRESS=" << paths.containerd_socket
              << "   (ctr, nerdctl on this host)\n";
    return;
  }
  std::cout << "To use it:  docker context use " << paths.contextName()
            << (activated ? "   (already the current context)" : "") << "\n"
            << "       or:  export DOCKER_HOST=unix://" << paths.docker_socket << "\n";
}

// Polls the daemon until the boot it runs ends, printing each progress line once.
void followBoot(const ProfileClient& client) {
  const auto deadline = Clock::now() + std::chrono::minutes(10);
  std::size_t shown = 0;
  bool saw_booting = false;
  for (;;) {
    auto status = client.status(std::chrono::seconds(5));
    if (!status) {
      throw std::runtime_error("the daemon of profile '" + client.paths().name +
                               "' stopped answering while booting (see " + client.paths().log_file +
                               ")");
    }
    const auto& boot = (*status)["boot"];
    const auto& progress = boot["progress"];
    for (; shown < progress.size(); ++shown) {
      std::cerr << "berth: " << progress[shown].get<std::string>() << "\n";
    }
    const std::string state = boot["state"].get<std::string>();
    if (state == "booting") saw_booting = true;
    if (state == "up") return;
    if (state == "down" && (saw_booting || boot["boots"].get<int>() > 0)) {
      const std::string why = boot["lastError"].get<std::string>();
      throw std::runtime_error(
          "the guest of profile '" + client.paths().name + "' failed to boot: " + why +
          (why.find("(see ") == std::string::npos ? " (see " + client.paths().log_file + ")" : ""));
    }
    if (Clock::now() > deadline) {
      throw std::runtime_error("the guest of profile '" + client.paths().name +
                               "' did not boot within 10 minutes (see " + client.paths().log_file +
                               ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Puts berth.yaml back as it was before this command (removes it when there was none).
void restoreFile(const std::string& path, const std::optional<std::string>& before) {
  if (!before) {
    std::filesystem::remove(path);
    return;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << *before;
}

// --mount replaces a profile's shares: say which ones it dropped, and how to add one instead.
void noteDroppedShares(const vm::ProfileConfig& before, const vm::ProfileConfig& after) {
  std::string dropped;
  const auto kept = after.effectiveMounts();
  for (const auto& share : before.effectiveMounts()) {
    const bool still = std::any_of(
        kept.begin(), kept.end(), [&](const vm::Share& s) { return s.location == share.location; });
    if (!still) dropped += (dropped.empty() ? "" : ", ") + share.location;
  }
  if (dropped.empty()) return;
  std::cerr << "berth: --mount replaced the profile's shares; no longer shared: " << dropped
            << " (berth mount add PATH adds a share and keeps the others)\n";
}

int startProfile(StartOptions& o) {
  ProfileClient client(o.profile);
  const auto& paths = client.paths();
  for (const auto& socket : paths.socketPaths()) server::checkSocketPathLength(socket);

  const bool existed = client.exists();
  const std::optional<std::string> original = readFile(paths.config_file);
  // With --edit, a berth.yaml that does not load is opened in the editor as it is.
  std::optional<vm::ProfileConfig> current;
  try {
    current = client.loadConfig(true);
  } catch (const vm::ConfigError&) {
    if (!o.edit || !existed) throw;
  }
  vm::ProfileConfig wanted = current ? *current : vm::ProfileConfig::defaults();
  // Every value is checked before anything is saved or started: a refused flag changes nothing.
  auto check = [&](vm::ProfileConfig& config) {
    if (config.vm_type.empty()) config.vm_type = vm::DriverFactory::defaultVmType();
    if (o.given("--disk") && config.vm_type == "ns")
      throw std::runtime_error(
          "--disk is not enforced by the ns driver (the engine's data lives on the host's file "
          "system); use --vm-type qemu for a guest disk of a fixed size");
    // BERTH_DEFAULT_RUNTIME picks the runtime of a new profile: a bad value is refused here.
    if (!existed && !o.given("--runtime")) {
      try {
        vm::ProfileConfig::defaultRuntime();
      } catch (const vm::ConfigError& e) {
        throw std::runtime_error(std::string(e.what()) + "; nothing was saved");
      }
    }
    SettingsCheck::beforeSave(config);
    if (existed && current)
      vm::ProfileConfig::checkImmutable(current->vm_type.empty() ? config : *current, config,
                                        paths.name);
  };
  if (current) {
    applyFlags(o, wanted);
    check(wanted);
  }

  if (client.status(std::chrono::seconds(3))) {
    if (anySettingGiven(o) && (!current || wanted.toYaml() != current->toYaml())) {
      throw std::runtime_error("profile '" + paths.name +
                               "' is running, so its settings cannot "
                               "change now; stop it first (" +
                               client.command("stop") + "), then start it with the new flags");
    }
    std::cerr << "berth: profile '" << paths.name << "' is already running; nothing to do ("
              << client.command("stop") << " stops it)\n";
    return 0;
  }
  // Fails here, before anything is written, when the driver cannot run (qemu not built, ...).
  if (current) vm::DriverFactory::makeDriver(wanted, paths);
  if (current && wanted.docker_sock) server::DockerSockLink(paths.docker_socket).check();

  // Creates it 0700, or refuses one that other users can write (they could swap its sockets).
  vm::PrivateDir::ensure(paths.dir);
  std::filesystem::permissions(paths.dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace);
  if (current) wanted.save(paths.config_file);
  if (existed && current && o.given("--mount")) noteDroppedShares(*current, wanted);
  if (o.edit) {
    // An edit that does not validate is not kept (as `berth template`): the file goes back to
    // what it was before this command.
    try {
      Editor::edit(paths.config_file);
      wanted = client.loadConfig(true);
      const bool flags_now = !current && anySettingGiven(o);  // the file did not load before
      if (flags_now) applyFlags(o, wanted);
      const bool chosen_now = wanted.vm_type.empty();
      check(wanted);
      vm::DriverFactory::makeDriver(wanted, paths);
      if (flags_now || chosen_now) wanted.save(paths.config_file);
    } catch (const std::exception& e) {
      restoreFile(paths.config_file, original);
      std::error_code ec;
      if (!existed) std::filesystem::remove(paths.dir, ec);  // only when left empty
      throw std::runtime_error(std::string(e.what()) + " (the edit was not kept; " +
                               client.command("start") + " --edit opens the file again)");
    }
  }
  if (auto cleaned = client.cleanStale(); !cleaned.empty())
    std::cerr << "berth: " << cleaned << "\n";

  ensureGuestImage(wanted);
  // The docker CLI gets no context for a profile whose docker.sock only refuses.
  if (!runsContainerd(wanted)) {
    DockerContext::write(paths.contextName(), describeFor(paths), "unix://" + paths.docker_socket);
    if (o.activate) DockerContext::activate(paths.contextName());
  }

  if (o.foreground) {
    std::cerr << "berth: running profile '" << paths.name
              << "' in the foreground (Ctrl-C stops it)\n";
    return server::ProfileDaemon::forProfile(paths, wanted)->run();
  }
  std::cerr << "berth: starting profile '" << paths.name << "' (" << wanted.vm_type << " driver, "
            << wanted.arch << ", "
            << (runsContainerd(wanted) ? "containerd runtime"
                                       : "docker context " + paths.contextName())
            << ")\n";
  client.launchDaemon();
  if (wanted.boot.lazy) {
    std::cerr << "berth: profile '" << paths.name << "' is listening on "
              << (runsContainerd(wanted) ? paths.containerd_socket : paths.docker_socket)
              << "; the guest boots on the first request\n";
  } else {
    try {
      followBoot(client);
    } catch (const std::exception&) {
      client.stopDaemon(true);  // a failed start leaves nothing running
      throw;
    }
    auto status = client.status();
    std::cerr << "berth: profile '" << paths.name << "' is running"
              << (status ? " (guest address " + (*status)["address"].get<std::string>() + ")" : "")
              << "\n";
  }
  printUsage(client, wanted, o.activate);
  return 0;
}

}  // namespace

void restartProfile(const ProfileArgs& profile) {
  ProfileClient client(profile);
  client.requireExists();
  if (client.status(std::chrono::seconds(3))) {
    std::cerr << "berth: stopping profile '" << client.paths().name << "'\n";
    client.stopDaemon(false);
  }
  StartOptions again;
  again.profile = profile;
  again.activate = false;
  int code = startProfile(again);
  if (code != 0) std::exit(code);
}

void registerStartCommand(CLI::App& app) {
  auto o = std::make_shared<StartOptions>();
  auto* cmd = app.add_subcommand("start", "Start a profile (creating it on first use)");
  o->cmd = cmd;
  o->profile.addTo(cmd);
  cmd->add_option("--cpus,--cpu", o->cpus, "Number of CPUs (VM drivers)");
  cmd->add_option("--memory", o->memory, "Memory in GiB (VM drivers)");
  cmd->add_option("--disk", o->disk, "Disk size in GiB (VM drivers)");
  // The fixed value sets are berth.yaml's (ProfileConfig's key table), written once.
  FlagChoices::attach(cmd->add_option("--arch", o->arch, "Guest architecture (fixed at creation)"),
                      vm::ProfileConfig::choices("arch"));
  FlagChoices::attach(cmd->add_option("--runtime", o->runtime,
                                      "Container runtime (containerd: ns driver only; default "
                                      "$BERTH_DEFAULT_RUNTIME, else docker)"),
                      vm::ProfileConfig::choices("runtime"));
  FlagChoices::attach(
      cmd->add_option(
          "--vm-type", o->vm_type,
          "Driver (default: qemu with a usable hypervisor, else ns; fixed at creation)"),
      vm::ProfileConfig::choices("vmType"));
  cmd->add_flag("--kubernetes,-k", o->kubernetes, "Kubernetes (k3s): not built yet, refused");
  cmd->add_option("--kubernetes-version", o->kubernetes_version,
                  "k3s version: not built yet, refused");
  cmd->add_option("--mount", o->mounts, "Share a host folder: HOST[:GUEST][:w] (repeatable)");
  FlagChoices::attach(cmd->add_option("--mount-type", o->mount_type, "Share type for VM drivers"),
                      vm::ProfileConfig::choices("mountType"));
  cmd->add_option("--disk-image", o->disk_image,
                  "qemu: a prebuilt guest image folder (disk.qcow2, vmlinuz, initrd.img)");
  cmd->add_option("--dns", o->dns, "DNS server for the guest (repeatable)");
  cmd->add_option("--env", o->env,
                  "Environment variable for the guest engine: KEY=VALUE (repeatable)");
  cmd->add_flag("--lazy", o->lazy, "Boot the guest on the first API request, not now");
  cmd->add_option(
      "--idle-stop", o->idle_stop,
      "Stop the guest after this long without clients or running containers (e.g. 10m; 0: never)");
  cmd->add_option("--listen", o->listen, "Also serve the API on tcp://ADDR:PORT with mutual TLS");
  cmd->add_flag("--activate,!--no-activate", o->activate,
                "Make the profile's docker context current (default: true)");
  cmd->add_flag("--edit,-e", o->edit, "Edit berth.yaml before starting");
  cmd->add_flag("--foreground,-f", o->foreground, "Run the daemon in this terminal");
  cmd->add_flag("--docker-sock", o->docker_sock,
                "Link /var/run/docker.sock to this profile's socket while it runs (root)");
  cmd->callback([o] {
    int code = startProfile(*o);
    if (code != 0) std::exit(code);
  });

  auto restart_args = std::make_shared<ProfileArgs>();
  auto* restart = app.add_subcommand("restart", "Stop a running profile and start it again");
  restart_args->addTo(restart);
  restart->callback([restart_args] { restartProfile(*restart_args); });
}

}  // namespace berth::cli
