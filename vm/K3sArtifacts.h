#pragma once
// K3sArtifacts: the files of one k3s release that the guest needs -- the k3s binary, the airgap
// images (a .tar.gz that `docker load` reads) and the release's sha256 file -- for a version and
// an arch, each verified against that sha256 file before use. Taken from an offline folder
// (kubernetes.artifacts, else $BERTH_K3S_ARTIFACTS) when one is given, else from berth's cache
// (<image cache>/k3s/<version>-<arch>), else downloaded over HTTPS from the mirror into the
// cache. A bad file is never kept. Throws std::runtime_error with one line saying what to do.
// Blocking (hashing, downloads): never on an I/O thread. Thread-safe: no shared state.
#include <string>

#include "vm/HttpsDownload.h"

namespace berth::vm {

struct K3sRelease {
  std::string version;    // v1.29.6+k3s1
  std::string arch;       // x86_64 | aarch64
  std::string mirror;     // base URL: <mirror>/<version, '+' as %2B>/<file>
  std::string artifacts;  // offline folder (kubernetes.artifacts); "" = $BERTH_K3S_ARTIFACTS
};

struct K3sFiles {
  std::string dir;     // where the verified files are
  std::string binary;  // the k3s binary (executable)
  std::string images;  // the airgap images tarball
  std::string sums;    // the release's sha256 file
  bool downloaded = false;
};

class K3sArtifacts {
 public:
  static constexpr const char* kDefaultVersion = "v1.29.6+k3s1";
  static constexpr const char* kDefaultMirror = "https://github.com/k3s-io/k3s/releases/download";

  struct Names {
    std::string binary, images, sums;
  };
  // The release's file names for `arch` (k3s / k3s-arm64, k3s-airgap-images-<a>.tar.gz,
  // sha256sum-<a>.txt); throws for an arch k3s does not ship.
  static Names names(const std::string& arch);
  // The cache folder of one release.
  static std::string cacheDir(const K3sRelease& release);
  // The URL of `file` in `release`.
  static std::string url(const K3sRelease& release, const std::string& file);
  // The sha256 a sha256sum-style text lists for `name`; "" when it lists none.
  static std::string checksumFor(const std::string& sums, const std::string& name);
  // The sha256 (hex) of the file at `path`; throws when it cannot be read.
  static std::string sha256File(const std::string& path);

  // The verified files of `release` (offline folder, cache, or a download into the cache with
  // progress lines). Throws with one line: a missing file, a checksum that differs, a 404, a
  // download cut short.
  static K3sFiles ensure(const K3sRelease& release, const HttpsDownload::Progress& progress);
};

}  // namespace berth::vm
