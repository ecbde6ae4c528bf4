#include "server/dashboard/DashboardAccess.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "server/net/Digest.h"

namespace berth::server {
namespace {

// Compares secrets without leaking where they differ through timing.
bool sameSecret(std::string_view a, std::string_view b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view pathOf(std::string_view target) { return target.substr(0, target.find('?')); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

std::string queryParam(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return "";
}

DashboardAccess::DashboardAccess(std::string token, std::string csrf, std::uint16_t port)
    : token_(std::move(token)), csrf_(std::move(csrf)), port_(port) {
  if (token_.size() < 16 || csrf_.size() < 16)
    throw std::invalid_argument("dashboard secrets must be at least 16 characters");
}

std::string DashboardAccess::cookieName() const {
  return "berth-dashboard-" + std::to_string(port_);
}

std::string DashboardAccess::setCookie() const {
  return cookieName() + "=" + token_ + "; HttpOnly; SameSite=Strict; Path=/";
}

bool DashboardAccess::changesState(std::string_view path) { return path.starts_with("/api/do/"); }

bool DashboardAccess::hostAllowed(std::string_view host) const {
  const std::string port = ":" + std::to_string(port_);
  return host == "127.0.0.1" + port || host == "localhost" + port;
}

bool DashboardAccess::originAllowed(std::string_view origin) const {
  if (origin.empty()) return true;  // same-origin GETs and older browsers send none
  const std::string port = ":" + std::to_string(port_);
  return origin == "http://127.0.0.1" + port || origin == "http://localhost" + port;
}

bool DashboardAccess::hasCookie(std::string_view header) const {
  const std::string name = cookieName();
  while (!header.empty()) {
    const auto semi = header.find(';');
    const std::string_view pair = trim(header.substr(0, semi));
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name &&
        sameSecret(pair.substr(eq + 1), token_)) {
      return true;
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return false;
}

DashboardAccess::Verdict DashboardAccess::check(const Request& request) const {
  // The Host first: a rebound DNS name reaches us with the attacker's name in it.
  if (!hostAllowed(request.host)) return Verdict::BadHost;
  const std::string_view method = request.method;
  if (method != "GET" && method != "POST") return Verdict::BadMethod;
  const std::string_view path = pathOf(request.target);
  if (!hasCookie(request.cookie)) {
    const std::string token = queryParam(request.target, "token");
    if (method == "GET" && !changesState(path) && sameSecret(token, token_))
      return Verdict::ExchangeToken;
    return Verdict::Unauthorized;
  }
  if (changesState(path) || method == "POST") {
    if (method != "POST" || !changesState(path)) return Verdict::Forbidden;
    if (!originAllowed(request.origin) || !sameSecret(request.csrf, csrf_))
      return Verdict::Forbidden;
  }
  return Verdict::Allow;
}

std::string DashboardAccess::redirectTarget(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string kept;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    if (!pair.starts_with("token=") && pair != "token" && !pair.empty())
      kept += (kept.empty() ? "" : "&") + std::string(pair);
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  std::string out(target.substr(0, q));
  if (out.empty()) out = "/";
  return kept.empty() ? out : out + "?" + kept;
}

std::string DashboardAccess::randomSecret() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    throw std::runtime_error("no randomness for the dashboard's secret");
  return net::Digest::hex(bytes, sizeof bytes);
}

}  // namespace berth::server
