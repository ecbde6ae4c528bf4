#pragma once
// HttpsDownload: fetches one URL over HTTPS (server verified against the system's roots, which
// SSL_CERT_FILE may replace; redirects followed, at most 5; plain http:// refused) with the
// foundation's HttpClient. toFile() streams the body to disk while hashing it (sha256) and
// reports progress; the file exists only when the whole body arrived. Throws
// std::runtime_error with one line naming the URL. Blocking: never on an I/O thread.
// Thread-safe: no shared state.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace berth::vm {

class HttpsDownload {
 public:
  // A progress line ("k3s: 12.0 MiB of 68.5 MiB (17%), 4.1 MiB/s"); `done` on the last one.
  using Progress = std::function<void(const std::string& line, bool done)>;

  // Writes the body of `url` to `path` (mode 0644) when it arrived whole and its sha256 (hex)
  // is `sha256`; otherwise throws and leaves no file (nor a partial one). `label` names it in
  // progress lines and errors.
  static void toFile(const std::string& url, const std::string& path, const std::string& label,
                     const std::string& sha256, const Progress& progress);
  // The body of `url` (a checksum file), at most 1 MiB.
  static std::string toString(const std::string& url);

  // How long a transfer may go without a byte before it is given up.
  static std::chrono::milliseconds stallTimeout();
  // "12.0 MiB of 68.5 MiB (17%), 4.1 MiB/s": one progress line's numbers.
  static std::string describeProgress(std::uint64_t received, std::uint64_t total, double seconds);
};

}  // namespace berth::vm
