#pragma once
// GuestImage: a built qemu guest (contrib/guest/build-image.sh output): a folder holding
// disk.qcow2 (the base every profile's overlay backs onto), vmlinuz and initrd.img.
// folderFor() is the one place that decides which folder a profile asks for (the CLI, before a
// first start, and QemuDriver both ask it); find() chooses the folder to boot: an explicit one,
// else the newest valid build in the image cache. An image downloaded from image.url lives in the
// cache too, in a folder named by its sha256 (GuestImageDownload puts it there).
// Thread-safe (no state beyond the returned value).
#include <string>

namespace berth::vm {

class ProfileConfig;

struct GuestImage {
  std::string dir, disk, kernel, initrd;
  std::string recipe;  // recipe hash of the build ("" for an image from elsewhere)

  // The image folder a profile asks for: $BERTH_GUEST_IMAGE, else diskImage (--disk-image),
  // else downloadedFolder(image.sha256) when image.url is set; "" = the newest valid build in
  // the cache (find("")).
  static std::string folderFor(const ProfileConfig& config);
  // True when folderFor() answers with image.url's download (neither of the above overrides it).
  static bool fromUrl(const ProfileConfig& config);
  // Where the image whose archive has this sha256 is kept: <cacheDir()>/sha256-<hex>.
  static std::string downloadedFolder(const std::string& sha256);
  // True when `dir` holds disk.qcow2, vmlinuz and initrd.img as regular files.
  static bool complete(const std::string& dir);
  // The image cache: $BERTH_IMAGE_CACHE, else $XDG_CACHE_HOME/berth/images, else
  // ~/.cache/berth/images (the same rule as build-image.sh).
  static std::string cacheDir();
  // `path` is an image folder or its disk.qcow2; "" means the newest valid build in the cache.
  // Throws DriverError naming the command that builds one when none is found.
  static GuestImage find(const std::string& path);
  // The image recipe (build-image.sh): $BERTH_GUEST_RECIPE, else the one installed beside this
  // berth (<prefix>/share/berth/guest/, as the .deb puts it), else the source tree's
  // (contrib/guest/, for a berth run from its build folder). "" when there is none.
  static std::string recipeScript();
};

}  // namespace berth::vm
