#include "vm/GuestImage.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "server/net/ChildProcess.h"
#include "vm/Driver.h"
#include "vm/ProfileConfig.h"

namespace berth::vm {
namespace fs = std::filesystem;

namespace {

std::string imageFromEnv() {
  const char* image = std::getenv("BERTH_GUEST_IMAGE");
  return image ? image : "";
}

}  // namespace

std::string GuestImage::folderFor(const ProfileConfig& config) {
  if (std::string image = imageFromEnv(); !image.empty()) return image;
  if (fromUrl(config)) return downloadedFolder(config.image.sha256);
  return config.disk_image;
}

bool GuestImage::fromUrl(const ProfileConfig& config) {
  return !config.image.url.empty() && imageFromEnv().empty() && config.disk_image.empty();
}

std::string GuestImage::downloadedFolder(const std::string& sha256) {
  return cacheDir() + "/sha256-" + sha256;
}

std::string GuestImage::cacheDir() {
  if (const char* dir = std::getenv("BERTH_IMAGE_CACHE"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/berth/images";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/root") + "/.cache/berth/images";
}

bool GuestImage::complete(const std::string& dir) {
  std::error_code ec;
  const fs::path d = dir;
  return fs::is_regular_file(d / "disk.qcow2", ec) && fs::is_regular_file(d / "vmlinuz", ec) &&
         fs::is_regular_file(d / "initrd.img", ec);
}

namespace {

GuestImage fromDir(const fs::path& dir) {
  GuestImage image;
  image.dir = fs::absolute(dir).lexically_normal().string();
  image.disk = image.dir + "/disk.qcow2";
  image.kernel = image.dir + "/vmlinuz";
  image.initrd = image.dir + "/initrd.img";
  std::ifstream recipe(dir / "recipe.sha256");
  std::getline(recipe, image.recipe);
  return image;
}

}  // namespace

GuestImage GuestImage::find(const std::string& path) {
  if (!path.empty()) {
    fs::path dir = path;
    std::error_code ec;
    if (fs::is_regular_file(dir, ec)) dir = dir.parent_path();
    // A daemon started without `berth start` (socket activation) finds no download yet.
    if (!complete(dir) && dir.parent_path() == fs::path(cacheDir()) &&
        dir.filename().string().rfind("sha256-", 0) == 0)
      throw DriverError("the guest image image.url names is not in " + cacheDir() +
                        " yet: berth image pull (or berth start) downloads it");
    if (!complete(dir))
      throw DriverError("--disk-image " + path +
                        ": expected a folder with disk.qcow2, vmlinuz and initrd.img "
                        "(as berth image build makes)");
    return fromDir(dir);
  }
  const fs::path cache = cacheDir();
  fs::path newest;
  fs::file_time_type newest_time{};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cache, ec)) {
    const auto marker = entry.path() / "recipe.sha256";
    if (!fs::is_regular_file(marker, ec) || !complete(entry.path())) continue;
    auto when = fs::last_write_time(marker, ec);
    if (newest.empty() || when > newest_time) {
      newest = entry.path();
      newest_time = when;
    }
  }
  if (newest.empty())
    throw DriverError("no qemu guest image in " + cache.string() +
                      ": build one with berth image build (about 10 minutes, needs root and "
                      "Debian's mirror) or pass --disk-image DIR");
  return fromDir(newest);
}

std::string GuestImage::recipeScript() {
  if (const char* path = std::getenv("BERTH_GUEST_RECIPE"); path && *path) return path;
  std::string self;
  try {
    self = net::ChildProcess::selfExecutable();
  } catch (const std::exception&) {
    return {};
  }
  const fs::path bin = fs::path(self).parent_path();
  for (const fs::path& candidate :
       {bin / "../share/berth/guest/build-image.sh", bin / "../../contrib/guest/build-image.sh"}) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return fs::weakly_canonical(candidate, ec).string();
  }
  return {};
}

}  // namespace berth::vm
