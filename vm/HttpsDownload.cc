#include "vm/HttpsDownload.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "api/Numbers.h"
#include "server/net/Digest.h"
#include "server/net/HttpClient.h"
#include "server/net/TlsConnector.h"
#include "server/net/TlsContext.h"

namespace berth::vm {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMaxRedirects = 5;
constexpr std::size_t kMaxText = std::size_t{1024} * 1024;

struct Url {
  std::string host;
  std::uint16_t port = 443;
  std::string target;  // path and query
};

Url parse(const std::string& url) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) {
    throw std::runtime_error("cannot download " + url + ": only https:// URLs are fetched");
  }
  const std::size_t slash = url.find('/', scheme.size());
  std::string authority = url.substr(scheme.size(), slash - scheme.size());
  Url out;
  out.target = slash == std::string::npos ? "/" : url.substr(slash);
  std::size_t colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) throw std::runtime_error("bad URL " + url);
    colon = authority.find(':', close);
    out.host = authority.substr(1, close - 1);
  } else {
    out.host = authority.substr(0, colon);
  }
  if (colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    const auto value = api::parsePort(port);
    if (!value) throw std::runtime_error("bad port in URL " + url);
    out.port = *value;
  }
  if (out.host.empty()) throw std::runtime_error("no host in URL " + url);
  return out;
}

// Where a redirect points: absolute, or a path on the same server.
std::string resolve(const std::string& from, const std::string& location) {
  if (location.rfind("https://", 0) == 0 || location.rfind("http://", 0) == 0) return location;
  const Url base = parse(from);
  const std::string origin = from.substr(0, from.find('/', std::strlen("https://")));
  if (!location.empty() && location.front() == '/') return origin + location;
  const std::string dir = base.target.substr(0, base.target.rfind('/') + 1);
  return origin + dir + location;
}

std::string reason(int status) {
  switch (status) {
    case 403:
      return "403 Forbidden";
    case 404:
      return "404 Not Found";
    case 410:
      return "410 Gone";
    case 429:
      return "429 Too Many Requests";
    case 500:
      return "500 Internal Server Error";
    case 502:
      return "502 Bad Gateway";
    case 503:
      return "503 Service Unavailable";
    default:
      return "HTTP status " + std::to_string(status);
  }
}

// Follows redirects until a 200 whose body goes to `sink`. Throws with one line.
void fetch(const std::string& url, const std::function<void(const net::HttpDownload&)>& on_head,
           const std::function<void(const char*, std::size_t)>& sink) {
  static const net::TlsContextPtr kContext = net::TlsContext::systemClient();
  std::string current = url;
  for (int hop = 0;; ++hop) {
    const Url where = parse(current);
    auto connector = std::make_shared<net::TlsConnector>(
        where.host, where.port, kContext, std::string(), HttpsDownload::stallTimeout());
    connector->setPeerName("the download server");
    const bool v6 = where.host.find(':') != std::string::npos;
    net::HttpClient client(connector,
                           (v6 ? "[" + where.host + "]" : where.host) +
                               (where.port == 443 ? "" : ":" + std::to_string(where.port)));
    const net::HttpDownload got = client.download(
        where.target, HttpsDownload::stallTimeout(),
        [&](const net::HttpDownload& head) {
          if (head.status == 200) on_head(head);
        },
        sink);
    if (got.status >= 300 && got.status < 400 && !got.location.empty()) {
      if (hop + 1 > kMaxRedirects)
        throw std::runtime_error("cannot download " + url + ": more than 5 redirects");
      current = resolve(current, got.location);
      continue;
    }
    if (!got.error.empty()) throw std::runtime_error("cannot download " + url + ": " + got.error);
    if (got.status != 200)
      throw std::runtime_error("cannot download " + url + ": " + reason(got.status));
    if (got.length != 0 && got.received != got.length) {
      throw std::runtime_error("cannot download " + url + ": the server sent " +
                               std::to_string(got.received) + " of " + std::to_string(got.length) +
                               " bytes");
    }
    return;
  }
}

std::string mib(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

}  // namespace

std::chrono::milliseconds HttpsDownload::stallTimeout() {
  if (const char* env = std::getenv("BERTH_DOWNLOAD_STALL_MS"); env != nullptr && *env != '\0') {
    const auto value = api::parseWhole<unsigned>(env);
    if (value && *value > 0) return std::chrono::milliseconds(*value);
  }
  return std::chrono::seconds(60);
}

std::string HttpsDownload::describeProgress(std::uint64_t received, std::uint64_t total,
                                            double seconds) {
  std::string line = mib(received);
  if (total > 0) {
    line += " of " + mib(total) + " (" + std::to_string(received * 100 / total) + "%)";
  }
  const double rate = seconds > 0 ? static_cast<double>(received) / seconds : 0;
  return line + ", " + mib(static_cast<std::uint64_t>(rate)) + "/s";
}

void HttpsDownload::toFile(const std::string& url, const std::string& path,
                           const std::string& label, const std::string& sha256,
                           const Progress& progress) {
  const std::string part = path + ".part." + std::to_string(::getpid());
  ::unlink(part.c_str());
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + part + ": " + std::strerror(errno));
  }
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  const auto started = Clock::now();
  auto last_report = started;
  std::uint64_t total = 0;
  std::uint64_t received = 0;
  const auto seconds = [&] {
    return std::chrono::duration<double>(Clock::now() - started).count();
  };
  try {
    fetch(
        url, [&](const net::HttpDownload& head) { total = head.length; },
        [&](const char* data, std::size_t size) {
          EVP_DigestUpdate(sha.get(), data, size);
          for (std::size_t done = 0; done < size;) {
            const ssize_t n = ::write(fd, data + done, size - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0)
              throw std::runtime_error("cannot write " + part + ": " + std::strerror(errno));
            done += static_cast<std::size_t>(n);
          }
          received += size;
          if (progress && Clock::now() - last_report >= std::chrono::milliseconds(500)) {
            last_report = Clock::now();
            progress(label + ": " + describeProgress(received, total, seconds()), false);
          }
        });
    if (::fsync(fd) != 0)
      throw std::runtime_error("cannot write " + part + ": " + std::strerror(errno));
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(sha.get(), digest, &size);
    if (const std::string got = net::Digest::hex(digest, size); got != sha256) {
      throw std::runtime_error(label + " from " + url + " has sha256 " + got +
                               ", not the expected " + sha256 + "; nothing was kept");
    }
  } catch (...) {
    ::close(fd);
    ::unlink(part.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(part.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(part.c_str());
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(saved));
  }
  if (progress) progress(label + ": " + describeProgress(received, total, seconds()), true);
}

std::string HttpsDownload::toString(const std::string& url) {
  std::string body;
  fetch(
      url, [](const net::HttpDownload&) {},
      [&](const char* data, std::size_t size) {
        if (body.size() + size > kMaxText)
          throw std::runtime_error("cannot download " + url + ": larger than 1 MiB");
        body.append(data, size);
      });
  return body;
}

}  // namespace berth::vm
