#pragma once
// DomainPages: the front's own answers, as whole HTTP/1.1 responses (`Connection: close`): a
// short HTML page that says what went wrong and what to do, for a browser and for curl alike.
// Every text put in a page is HTML-escaped. Pure code; thread-safe.
#include <string>
#include <vector>

#include "server/domains/DomainName.h"
#include "server/domains/NameTable.h"

namespace berth::server {

class DomainPages {
 public:
  // 404: `host` names no running container of `profile`; lists how names are formed and the
  // names served now.
  static std::string unknownName(const std::string& host, const std::string& profile,
                                 const std::vector<std::string>& names);
  // 502 (503 for a guest that is not up) for a lookup that found the container but cannot
  // serve it: several ports (naming the label to set), no port, a bad label, no address.
  static std::string cannotServe(const std::string& host, const NameTable::Lookup& lookup);
  // 502: the container (or another profile's front) did not accept the connection.
  static std::string unreachable(const std::string& host, const std::string& target,
                                 const std::string& error);
  // 503: the guest of `profile` is not running (`why`), so no name can be served now.
  static std::string guestDown(const std::string& host, const std::string& profile,
                               const std::string& why);
  // 503: `container` (berth.wake=true) could not be woken for `host`: `error` says why.
  static std::string notWoken(const std::string& host, const std::string& container,
                              const std::string& error);
  // 400: no Host, or a request head that does not parse.
  static std::string badRequest(const std::string& why);

  // A whole response: status line, headers, `<title>` and `<h1>` = title, then `body_html`.
  static std::string page(int status, const std::string& title, const std::string& body_html);
  static std::string escape(const std::string& text);
};

}  // namespace berth::server
