// `berth image build`: builds the qemu guest image from berth's recipe (build-image.sh) with its
// progress on the terminal; `berth image pull`: downloads the prebuilt one a profile's image.url
// names; and the check `berth start` makes first, so that a qemu profile's first start downloads
// or builds the image itself instead of failing with a recipe to run by hand.
#include <unistd.h>

#include <iostream>
#include <stdexcept>

#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "server/cli/ProgressLine.h"
#include "server/net/ChildProcess.h"
#include "vm/Driver.h"
#include "vm/GuestImage.h"
#include "vm/GuestImageDownload.h"
#include "vm/ProfileConfig.h"

namespace berth::cli {
namespace {

struct ImageOptions {
  bool force = false;
  std::string mirror;
};

// Runs the recipe in this terminal (its progress goes to stderr, the image folder to stdout).
void buildImage(const ImageOptions& o) {
  const std::string recipe = vm::GuestImage::recipeScript();
  if (recipe.empty())
    throw std::runtime_error(
        "berth's guest-image recipe (build-image.sh) is not installed beside this berth; "
        "set BERTH_GUEST_RECIPE=PATH or pass --disk-image DIR to berth start");
  if (::geteuid() != 0)
    throw std::runtime_error(
        "building the guest image needs root (debootstrap, chroot): "
        "sudo berth image build");
  std::vector<std::string> argv = {"bash", recipe, "--cache-dir", vm::GuestImage::cacheDir()};
  if (o.force) argv.emplace_back("--force");
  if (!o.mirror.empty()) argv.insert(argv.end(), {"--mirror", o.mirror});
  net::SpawnOptions spawn;
  spawn.argv = argv;
  spawn.input = "";
  spawn.output = "";
  auto child = net::ChildProcess::spawn(spawn);
  const auto exit = child.wait(std::chrono::hours(2));
  if (!exit || exit->code != 0)
    throw std::runtime_error("the guest image was not built: " + recipe + " " +
                             (exit ? exit->describe() : "ran for 2 hours") +
                             " (its output is above)");
}

// Downloads image.url's image unless it is cached (saying so first: it may take minutes).
std::string pullImage(const vm::ImageConfig& image) {
  if (!vm::GuestImage::complete(vm::GuestImage::downloadedFolder(image.sha256))) {
    std::cerr << "berth: downloading the qemu guest image from " << image.url
              << " (once: profiles with the same image.sha256 share it)\n";
  }
  return vm::GuestImageDownload::ensure(image.url, image.sha256, ProgressLine::toStderr()).dir;
}

void runPull(const ProfileArgs& profile) {
  const ProfileClient client(profile);
  const vm::ProfileConfig config = client.loadConfig(client.exists());
  if (config.image.url.empty() && !client.exists()) {
    // A profile not created yet pulls what the template names.
    throw std::runtime_error("profile '" + client.paths().name +
                             "' does not exist yet and the template has no image.url: set "
                             "image.url and image.sha256 with berth template, or build the "
                             "image with berth image build");
  }
  if (config.image.url.empty()) {
    throw std::runtime_error("profile '" + client.paths().name +
                             "' has no image.url: set image.url and image.sha256 in its berth.yaml "
                             "or the template (berth template), or build the image with berth "
                             "image build");
  }
  std::cout << pullImage(config.image) << "\n";
}

}  // namespace

void ensureGuestImage(const vm::ProfileConfig& config) {
  if (config.vm_type != "qemu") return;
  if (vm::GuestImage::fromUrl(config)) {
    pullImage(config.image);
    return;
  }
  if (!vm::GuestImage::folderFor(config).empty()) return;
  try {
    vm::GuestImage::find("");
    return;
  } catch (const vm::DriverError&) {
    std::cerr << "berth: no qemu guest image in " << vm::GuestImage::cacheDir()
              << " yet: building one now (Debian bookworm from its mirror; about 6-10 minutes, "
                 "once; berth image build does this alone)\n";
  }
  buildImage({});
}

void registerImageCommands(CLI::App& app) {
  auto* image = app.add_subcommand("image", "The qemu guest image");
  image->require_subcommand(1);
  auto o = std::make_shared<ImageOptions>();
  auto* build = image->add_subcommand(
      "build", "Build the qemu guest image into the image cache (root; reuses a valid one)");
  build->add_flag("--force", o->force, "Build again even when the cached image is valid");
  build->add_option("--mirror", o->mirror, "Debian mirror URL (default: debootstrap's)");
  build->callback([o] { buildImage(*o); });
  auto profile = std::make_shared<ProfileArgs>();
  auto* pull = image->add_subcommand(
      "pull",
      "Download the prebuilt guest image the profile's image.url names into the image cache");
  profile->addTo(pull, false);
  pull->callback([profile] { runPull(*profile); });
}

}  // namespace berth::cli
