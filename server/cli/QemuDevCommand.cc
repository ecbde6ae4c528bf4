// `berth qemu-run`: boots a throwaway qemu guest from a state folder, runs one host command
// with DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH pointing at the guest's dockerd, then
// stops the guest (saving its state, so a second run resumes). A tool for exercising the qemu
// driver and the guest image on their own, without a profile or a daemon.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "server/cli/Cli.h"
#include "server/net/ChildProcess.h"
#include "vm/MountFlag.h"
#include "vm/QemuDriver.h"

namespace berth::cli {

void registerQemuDevCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("qemu-run",
                                 "Boot a qemu guest from a state folder, run a host "
                                 "command against its engine, stop it");
  auto options = std::make_shared<vm::QemuOptions>();
  auto mounts = std::make_shared<std::vector<std::string>>();
  auto command = std::make_shared<std::vector<std::string>>();
  auto timeout = std::make_shared<int>(0);
  auto force = std::make_shared<bool>(false);
  cmd->add_option("--state-dir", options->state_dir, "driver state folder")->required();
  cmd->add_option("--disk-image", options->disk_image,
                  "guest image folder (default: newest cached)");
  cmd->add_option("--cpus", options->cpus);
  cmd->add_option("--memory-mib", options->memory_mib);
  cmd->add_option("--mount", *mounts, "HOST[:GUEST][:w]");
  cmd->add_option("--mount-type", options->mount_type, "9p | virtiofs");
  cmd->add_option("--boot-timeout", *timeout, "seconds");
  cmd->add_flag("--no-resume", [options](std::int64_t) { options->resume = false; });
  cmd->add_flag("--force-stop", *force, "kill instead of save/power-down");
  cmd->prefix_command();  // everything after the options (or after --) is the host command
  cmd->callback([=] {
    *command = cmd->remaining();
    if (!command->empty() && command->front() == "--") command->erase(command->begin());
    options->shares =
        vm::MountFlag::parseAll(*mounts, std::getenv("HOME") ? std::getenv("HOME") : "");
    options->boot_timeout = std::chrono::seconds(*timeout);
    vm::QemuDriver driver(*options);
    driver.start([](const std::string& line) { std::cout << line << '\n' << std::flush; });
    auto endpoint = driver.engine();
    std::string cert_dir = options->state_dir + "/tls/client";
    setenv("DOCKER_HOST", ("tcp://localhost:" + std::to_string(endpoint.port)).c_str(), 1);
    setenv("DOCKER_TLS_VERIFY", "1", 1);
    setenv("DOCKER_CERT_PATH", cert_dir.c_str(), 1);
    setenv(
        "BERTH_QEMU_SSH",
        [&] {
          std::string s;
          for (const auto& a : driver.sshArgv({}, false)) s += (s.empty() ? "" : " ") + a;
          return s;
        }()
            .c_str(),
        1);
    int rc = 0;
    if (!command->empty()) {
      net::SpawnOptions run;
      run.argv = *command;
      run.input.clear();  // the command may be interactive
      auto status = net::ChildProcess::spawn(run).wait(net::ChildProcess::kForever);
      rc = status && status->signal == 0 ? status->code : 1;
    }
    auto t0 = std::chrono::steady_clock::now();
    driver.stop(*force);
    std::cout << "qemu: stopped in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
              << "s\n";
    if (rc != 0) throw std::runtime_error("command exited with " + std::to_string(rc));
  });
}

}  // namespace berth::cli
