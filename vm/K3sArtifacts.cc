#include "vm/K3sArtifacts.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "server/net/Digest.h"
#include "server/net/Files.h"
#include "vm/GuestImage.h"

namespace berth::vm {
namespace {

namespace fs = std::filesystem;

std::string offlineDir(const K3sRelease& release) {
  if (!release.artifacts.empty()) return release.artifacts;
  const char* env = std::getenv("BERTH_K3S_ARTIFACTS");
  return env != nullptr ? env : "";
}

// A file whose sha256 matches the one `sums` lists; `why` says what is wrong otherwise.
bool verified(const std::string& path, const std::string& sums, const std::string& name,
              std::string* why) {
  const std::string want = K3sArtifacts::checksumFor(sums, name);
  if (want.empty()) {
    *why = "the release's checksum file lists no " + name;
    return false;
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    *why = path + " is missing";
    return false;
  }
  const std::string got = K3sArtifacts::sha256File(path);
  if (got != want) {
    *why = path + " has sha256 " + got + ", not " + want + " as the release's checksum file says";
    return false;
  }
  return true;
}

K3sFiles filesIn(const std::string& dir, const K3sArtifacts::Names& n) {
  K3sFiles files;
  files.dir = dir;
  files.binary = dir + "/" + n.binary;
  files.images = dir + "/" + n.images;
  files.sums = dir + "/" + n.sums;
  return files;
}

K3sFiles fromOffline(const std::string& dir, const K3sRelease& release,
                     const K3sArtifacts::Names& n) {
  const std::string hint = " (kubernetes.artifacts / BERTH_K3S_ARTIFACTS must hold " + n.binary +
                           ", " + n.images + " and " + n.sums + " of k3s " + release.version + ")";
  K3sFiles files = filesIn(dir, n);
  const auto sums = net::Files::read(files.sums);
  if (!sums) throw std::runtime_error("k3s artifacts folder " + dir + " has no " + n.sums + hint);
  for (const auto& [path, name] : {std::pair{files.binary, n.binary}, {files.images, n.images}}) {
    std::string why;
    if (!verified(path, *sums, name, &why)) {
      throw std::runtime_error("k3s artifacts: " + why + hint);
    }
  }
  return files;
}

}  // namespace

K3sArtifacts::Names K3sArtifacts::names(const std::string& arch) {
  if (arch == "x86_64" || arch == "amd64") {
    return {"k3s", "k3s-airgap-images-amd64.tar.gz", "sha256sum-amd64.txt"};
  }
  if (arch == "aarch64" || arch == "arm64") {
    return {"k3s-arm64", "k3s-airgap-images-arm64.tar.gz", "sha256sum-arm64.txt"};
  }
  throw std::runtime_error("k3s is not released for arch " + arch + " (x86_64 or aarch64)");
}

std::string K3sArtifacts::cacheDir(const K3sRelease& release) {
  return GuestImage::cacheDir() + "/k3s/" + release.version + "-" + release.arch;
}

std::string K3sArtifacts::url(const K3sRelease& release, const std::string& file) {
  std::string version;
  for (char c : release.version) version += c == '+' ? std::string("%2B") : std::string(1, c);
  std::string base = release.mirror.empty() ? kDefaultMirror : release.mirror;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + version + "/" + file;
}

std::string K3sArtifacts::checksumFor(const std::string& sums, const std::string& name) {
  std::istringstream lines(sums);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string hash, file;
    if (!(words >> hash >> file)) continue;
    if (!file.empty() && file.front() == '*') file.erase(0, 1);  // sha256sum's binary marker
    if (file.rfind("./", 0) == 0) file.erase(0, 2);
    if (file == name && hash.size() == 64) return hash;
  }
  return "";
}

std::string K3sArtifacts::sha256File(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  std::unique_ptr<char[]> buffer(new char[1 << 20]);
  for (;;) {
    const ssize_t n = ::read(fd, buffer.get(), 1 << 20);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      throw std::runtime_error("cannot read " + path + ": " + std::strerror(saved));
    }
    if (n == 0) break;
    EVP_DigestUpdate(sha.get(), buffer.get(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(sha.get(), digest, &size);
  return net::Digest::hex(digest, size);
}

K3sFiles K3sArtifacts::ensure(const K3sRelease& release, const HttpsDownload::Progress& progress) {
  const Names n = names(release.arch);
  if (const std::string dir = offlineDir(release); !dir.empty()) {
    return fromOffline(dir, release, n);
  }
  const std::string dir = cacheDir(release);
  K3sFiles files = filesIn(dir, n);
  // The cached sha256 file was written only after both files matched it; each use checks again.
  if (const auto sums = net::Files::read(files.sums)) {
    std::string why;
    if (verified(files.binary, *sums, n.binary, &why) &&
        verified(files.images, *sums, n.images, &why)) {
      return files;
    }
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create the k3s cache " + dir + ": " + ec.message());
  const std::string sums = HttpsDownload::toString(url(release, n.sums));
  for (const auto& [path, name] : {std::pair{files.binary, n.binary}, {files.images, n.images}}) {
    const std::string want = checksumFor(sums, name);
    if (want.empty()) {
      throw std::runtime_error(url(release, n.sums) + " lists no " + name + ": is k3s " +
                               release.version + " a release of this mirror?");
    }
    std::string why;
    if (verified(path, sums, name, &why)) continue;  // one file survived an earlier attempt
    ::unlink(path.c_str());
    HttpsDownload::toFile(url(release, name), path, name, want, progress);
  }
  ::chmod(files.binary.c_str(), 0755);
  net::Files::writeAtomic(files.sums, sums, 0644);
  files.downloaded = true;
  return files;
}

}  // namespace berth::vm
