#include "vm/GuestImageDownload.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "api/Numbers.h"
#include "server/net/ChildProcess.h"
#include "vm/GuestImage.h"

namespace berth::vm {
namespace fs = std::filesystem;
namespace {

constexpr const char* kWorkPrefix = ".download-";
constexpr const char* kFiles[] = {"disk.qcow2", "vmlinuz", "initrd.img"};

// A work folder of a download that did not finish (its berth was killed): named
// .download-<pid>-XXXXXX, left when that pid is gone.
bool abandoned(const fs::path& entry) {
  const std::string name = entry.filename().string();
  if (name.rfind(kWorkPrefix, 0) != 0) return false;
  const std::string_view rest = std::string_view(name).substr(std::strlen(kWorkPrefix));
  const auto pid = api::parseWhole<unsigned>(rest.substr(0, rest.find('-')));
  return rest.find('-') != std::string_view::npos && pid && *pid > 0 &&
         static_cast<pid_t>(*pid) != ::getpid() &&
         !net::ChildProcess::alive(static_cast<int>(*pid));
}

// Removes `dir` (and all in it) when it goes out of scope, unless released.
class WorkDir {
 public:
  explicit WorkDir(const std::string& cache) {
    std::string pattern = cache + "/" + kWorkPrefix + std::to_string(::getpid()) + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("cannot create a folder in the image cache " + cache + ": " +
                               std::strerror(errno));
    path_ = pattern;
  }
  ~WorkDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The folder of `root` holding the image files: `root` itself, or its one top folder (an
// archive made with `tar -C parent -cf image.tar folder`). Each file must be a regular file, not
// a link that could point out of the image. "" when the archive is not an image.
fs::path imageFolderIn(const fs::path& root) {
  fs::path dir = root;
  std::error_code ec;
  if (!fs::exists(dir / kFiles[0], ec)) {
    fs::path only;
    int entries = 0;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      ++entries;
      only = entry.path();
    }
    if (entries != 1 || !fs::is_directory(fs::symlink_status(only, ec))) return {};
    dir = only;
  }
  for (const char* file : kFiles)
    if (!fs::is_regular_file(fs::symlink_status(dir / file, ec))) return {};
  return dir;
}

// A qcow2 file starts with "QFI\xfb": a disk that is not one would only fail at boot.
bool isQcow2(const fs::path& disk) {
  char magic[4] = {};
  std::ifstream in(disk, std::ios::binary);
  in.read(magic, sizeof magic);
  return in && std::memcmp(magic, "QFI\xfb", sizeof magic) == 0;
}

}  // namespace

GuestImageDownload::Result GuestImageDownload::ensure(const std::string& url,
                                                      const std::string& sha256,
                                                      const HttpsDownload::Progress& progress) {
  const std::string target = GuestImage::downloadedFolder(sha256);
  if (GuestImage::complete(target)) return {target, false};
  const std::string cache = GuestImage::cacheDir();
  std::error_code ec;
  fs::create_directories(cache, ec);
  if (ec) throw std::runtime_error("cannot create the image cache " + cache + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(cache, ec))
    if (abandoned(entry.path())) fs::remove_all(entry.path(), ec);

  const WorkDir work(cache);
  const fs::path archive = work.path() / "image.tar";
  HttpsDownload::toFile(url, archive.string(), "guest image", sha256, progress);
  const fs::path unpacked = work.path() / "image";
  fs::create_directory(unpacked);
  // GNU tar reads gzip and zstd archives by their magic; it drops leading '/' and refuses
  // '..' members, so nothing lands outside `unpacked`.
  const auto tar = net::ChildProcess::run({"tar", "-x", "--no-same-owner", "--no-same-permissions",
                                           "-f", archive.string(), "-C", unpacked.string()},
                                          std::chrono::minutes(30));
  fs::remove(archive, ec);  // its checksum matched; the unpacked files are what is kept
  if (tar.exit_code != 0) {
    const std::string why = tar.output.substr(0, tar.output.find('\n'));
    throw std::runtime_error("the guest image from " + url + " is not a tar archive tar can read" +
                             (why.empty() ? "" : " (" + why + ")") + "; nothing was kept");
  }
  const fs::path image = imageFolderIn(unpacked);
  if (image.empty()) {
    throw std::runtime_error("the archive at " + url +
                             " is not a guest image: it needs disk.qcow2, vmlinuz and initrd.img "
                             "at its top or in one folder; nothing was kept");
  }
  if (!isQcow2(image / "disk.qcow2")) {
    throw std::runtime_error("the archive at " + url +
                             " is not a guest image: its disk.qcow2 is not a qcow2 disk; nothing "
                             "was kept");
  }
  GuestImage::find(image.string());  // the same check every boot makes
  fs::permissions(image, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
  if (fs::exists(target, ec) && !GuestImage::complete(target))
    fs::remove_all(target, ec);  // a folder someone emptied by hand: it would block the rename
  if (::rename(image.c_str(), target.c_str()) != 0) {
    // Another berth landed the same image first (its folder is not empty): use that one.
    const int saved = errno;
    if (GuestImage::complete(target)) return {target, true};
    throw std::runtime_error("cannot move the guest image from " + url + " into " + target + ": " +
                             std::strerror(saved));
  }
  return {target, true};
}

}  // namespace berth::vm
