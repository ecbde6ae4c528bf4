#include "vm/EngineProbe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "server/net/TlsContext.h"

namespace berth::vm {
namespace {

std::string sslError() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "TLS handshake failed";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int msLeft(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

bool EngineProbe::ping(const EngineEndpoint& endpoint, std::chrono::milliseconds timeout,
                       std::string& error) {
  int status = 0;
  std::string body;
  if (!get(endpoint, "/_ping", timeout, status, body, error)) return false;
  if (status == 200 && body == "OK") return true;
  error = "unexpected answer to /_ping: " + std::to_string(status) + " " + body.substr(0, 200);
  return false;
}

bool EngineProbe::get(const EngineEndpoint& endpoint, const std::string& target,
                      std::chrono::milliseconds timeout, int& status, std::string& body,
                      std::string& error) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  net::TlsContextPtr ctx;
  try {
    ctx = net::TlsContext::load(net::TlsContext::Role::Client, endpoint.ca_file, endpoint.cert_file,
                                endpoint.key_file);
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }

  Fd sock;
  sock.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(endpoint.port);
  if (inet_pton(AF_INET, endpoint.host.c_str(), &addr.sin_addr) != 1) {
    error = "bad engine address " + endpoint.host;
    return false;
  }
  if (connect(sock.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
      errno != EINPROGRESS) {
    error = std::string("connect: ") + std::strerror(errno);
    return false;
  }
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx->native()), &SSL_free);
  SSL_set_fd(ssl.get(), sock.fd);
  // The engine's certificate must carry the address we dialled (an IP SAN).
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), endpoint.host.c_str());

  // Drives one non-blocking TLS call to completion or to the deadline.
  auto drive = [&](auto&& call) -> int {
    for (;;) {
      int rc = call();
      if (rc > 0) return rc;
      int err = SSL_get_error(ssl.get(), rc);
      short events = err == SSL_ERROR_WANT_READ    ? POLLIN
                     : err == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                   : 0;
      if (events == 0) return rc;
      pollfd p{sock.fd, events, 0};
      int left = msLeft(deadline);
      if (left == 0 || poll(&p, 1, left) <= 0) return -2;
    }
  };
  int rc = drive([&] { return SSL_connect(ssl.get()); });
  if (rc <= 0) {
    error = rc == -2 ? "no TLS handshake from the engine in time" : sslError();
    return false;
  }
  const std::string request = "GET " + target + " HTTP/1.0\r\nHost: docker\r\n\r\n";
  if (drive([&] {
        return SSL_write(ssl.get(), request.data(), static_cast<int>(request.size()));
      }) <= 0) {
    error = "cannot send the request: " + sslError();
    return false;
  }
  std::string response;
  char buf[4096];
  while (response.size() < (8u << 20)) {
    int n = drive([&] { return SSL_read(ssl.get(), buf, sizeof buf); });
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  const auto head_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || response.size() < 12) {
    error = response.empty() ? "the engine closed the connection without answering"
                             : "not an HTTP answer: " + response.substr(0, response.find('\r'));
    return false;
  }
  status = std::atoi(response.c_str() + 9);
  body = response.substr(head_end + 4);
  return true;
}

}  // namespace berth::vm
