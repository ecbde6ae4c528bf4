#pragma once
// DashboardAccess: every security decision of the dashboard, as pure code over a request's
// method, target and headers (issue 17): the Host must be 127.0.0.1:P or localhost:P (DNS
// rebinding), the first URL's ?token= is exchanged for an HttpOnly SameSite=Strict cookie,
// anything else without that cookie is 401, and a state-changing request must be a POST under
// /api/do/ carrying the page's CSRF token (and no foreign Origin), else 403. Immutable after
// construction; thread-safe.
#include <cstdint>
#include <string>
#include <string_view>

namespace berth::server {

class DashboardAccess {
 public:
  // What the server does with a request.
  enum class Verdict {
    Allow,          // serve it
    ExchangeToken,  // 303 to redirectTarget() with setCookie(): the token leaves the URL
    BadHost,        // 403: a Host other than loopback:port
    Unauthorized,   // 401: no (valid) cookie or token
    Forbidden,      // 403: a state change without POST + CSRF token, or a foreign Origin
    BadMethod,      // 405: neither GET nor POST
  };

  struct Request {
    std::string_view method;
    std::string_view target;  // path and query as sent
    std::string_view host;
    std::string_view cookie;  // the Cookie header, "" when absent
    std::string_view csrf;    // the X-Berth-CSRF header, "" when absent
    std::string_view origin;  // the Origin header, "" when absent
  };

  // `token`: the profile's secret (the first URL); `csrf`: the token the page reads from
  // /api/session and sends back on every POST; `port`: the listening port.
  DashboardAccess(std::string token, std::string csrf, std::uint16_t port);

  Verdict check(const Request& request) const;
  // The cookie that proves a browser was given the token: HttpOnly, SameSite=Strict, Path=/.
  std::string setCookie() const;
  // `target` without its token= parameter (where ExchangeToken redirects to).
  static std::string redirectTarget(std::string_view target);
  // "berth-dashboard-P": cookies are shared by every port of a host, so the name has the port.
  std::string cookieName() const;
  const std::string& csrf() const { return csrf_; }
  // True when `path` (no query) changes state: only POST reaches it, with the CSRF token.
  static bool changesState(std::string_view path);

  // A new random secret (32 bytes of the OS's randomness, hex).
  static std::string randomSecret();

 private:
  bool hostAllowed(std::string_view host) const;
  bool originAllowed(std::string_view origin) const;
  bool hasCookie(std::string_view cookie_header) const;

  std::string token_;
  std::string csrf_;
  std::uint16_t port_;
};

// The value of query parameter `name` in `target` ("" when absent; no percent-decoding: the
// values the dashboard uses are hex and container ids).
std::string queryParam(std::string_view target, std::string_view name);

}  // namespace berth::server
