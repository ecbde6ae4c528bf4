// `berth kubernetes ...`: Kubernetes (k3s) for a profile. Built so far: `download`, which
// fetches and verifies the k3s release files the guest will need (the profile's
// kubernetes.mirror / kubernetes.artifacts, else $BERTH_K3S_ARTIFACTS, else the k3s project's
// releases) into berth's cache, with a progress line; running k3s in the guest is not built yet.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "server/cli/ProgressLine.h"
#include "vm/K3sArtifacts.h"

namespace berth::cli {
namespace {

struct DownloadOptions {
  ProfileArgs profile;
  std::string version;
};

// The release a profile's settings name (a profile that does not exist yet: the defaults).
vm::K3sRelease releaseFor(const ProfileClient& client, const std::string& version) {
  const vm::ProfileConfig config = client.loadConfig(client.exists());
  vm::K3sRelease release;
  release.version = !version.empty()                     ? version
                    : !config.kubernetes.version.empty() ? config.kubernetes.version
                                                         : vm::K3sArtifacts::kDefaultVersion;
  release.arch = config.arch.empty() ? vm::hostArch() : config.arch;
  release.mirror = config.kubernetes.mirror;
  release.artifacts = config.kubernetes.artifacts;
  return release;
}

void download(const DownloadOptions& o) {
  const ProfileClient client(o.profile);
  const vm::K3sRelease release = releaseFor(client, o.version);
  const vm::K3sFiles files = vm::K3sArtifacts::ensure(release, ProgressLine::toStderr());
  std::cout << "k3s " << release.version << " (" << release.arch
            << "): " << (files.downloaded ? "downloaded and verified in " : "verified in ")
            << files.dir << "\n";
}

}  // namespace

void registerKubernetesCommands(CLI::App& app) {
  auto* kube = app.add_subcommand("kubernetes", "Kubernetes (k3s) of a profile");
  kube->require_subcommand(1);
  auto o = std::make_shared<DownloadOptions>();
  auto* cmd = kube->add_subcommand(
      "download",
      "Fetch and verify the k3s release files (kubernetes.mirror, kubernetes.artifacts or "
      "BERTH_K3S_ARTIFACTS) into berth's cache");
  o->profile.addTo(cmd, false);
  cmd->add_option("--version", o->version,
                  std::string("k3s release (default: kubernetes.version, else ") +
                      vm::K3sArtifacts::kDefaultVersion + ")");
  cmd->callback([o] { download(*o); });
}

}  // namespace berth::cli
