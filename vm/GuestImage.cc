#include "vm/GuestImage.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "server/net/ChildProcess.h"
#include "vm/Driver.h"
#include "vm/ProfileConfig.h"

namespace berth::vm {
namespace fs = std::filesystem;

std::string GuestImage::folderFor(const ProfileConfig& config) {
  if (const char* image = std::getenv("BERTH_GUEST_IMAGE"); image && *image) return image;
  return config.disk_image;
}

std::string GuestImage::cacheDir() {
  if (const char* dir = std::getenv("BERTH_IMAGE_CACHE"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/berth/images";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/root") + "/.cache/berth/images";
}

namespace {

bool complete(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "disk.qcow2", ec) && fs::is_regular_file(dir / "vmlinuz", ec) &&
         fs::is_regular_file(dir / "initrd.img", ec);
}

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
