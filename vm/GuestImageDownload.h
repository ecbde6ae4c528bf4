#pragma once
// GuestImageDownload: brings the prebuilt qemu guest image that image.url names into the image
// cache. The archive -- a tar, plain or gzip/zstd-compressed, holding disk.qcow2, vmlinuz and
// initrd.img at its top or in its one top folder -- is downloaded with progress lines and
// checked against image.sha256 (HttpsDownload), unpacked and checked in a private folder
// inside the cache, and only then renamed whole to GuestImage::downloadedFolder(sha256): a
// failure at any step leaves nothing in the cache, and a second profile with the same archive
// downloads nothing. Blocking (network, tar): never on an I/O thread. Thread-safe, and safe
// across processes (the rename is the commit; the first one to land wins).
#include <string>

#include "vm/HttpsDownload.h"

namespace berth::vm {

class GuestImageDownload {
 public:
  // The image folder for `url` pinned by `sha256`, downloading it first unless it is already in
  // the cache (then `downloaded` says false). Throws std::runtime_error with one line naming
  // the URL: an unreachable server, a 404, a checksum that differs, a body cut short, an
  // archive tar cannot read, an archive without the three files.
  struct Result {
    std::string dir;
    bool downloaded = false;
  };
  static Result ensure(const std::string& url, const std::string& sha256,
                       const HttpsDownload::Progress& progress);
};

}  // namespace berth::vm
