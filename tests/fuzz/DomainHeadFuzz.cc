// Fuzz target: the names front's first step (server/domains) -- DomainHead over a client's bytes
// as they arrive in pieces, then DomainRouter::route of the Host it names, with the guest up
// (a table of containers: one served, one with several ports, one asleep) or down. Checks what
// the front relies on: a head's answer never changes once it is known as more bytes come, a
// Host is never empty, every page is a whole HTTP/1.1 response whose Content-Length is its
// body's, and the Host is shown in it escaped (every '<' opens one of the page's own tags).
// Input: byte 0 = piece size, byte 1 = flags (bit 0: guest up), then the client's bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "server/domains/DomainHead.h"
#include "server/domains/DomainPages.h"
#include "server/domains/DomainRouter.h"

namespace {

using berth::server::DomainHead;
using berth::server::DomainRouter;

nlohmann::json containers() {
  auto item = [](const std::string& name, nlohmann::json ports, nlohmann::json labels,
                 const std::string& state) {
    return nlohmann::json{
        {"Id", name + "-id"},
        {"Names", {"/" + name}},
        {"State", state},
        {"Labels", std::move(labels)},
        {"Ports", std::move(ports)},
        {"NetworkSettings", {{"Networks", {{"bridge", {{"IPAddress", "172.17.0.2"}}}}}}}};
  };
  const nlohmann::json http = {{{"PrivatePort", 80}, {"Type", "tcp"}}};
  return {
      item("web", http,
           {{"com.docker.compose.service", "api"}, {"com.docker.compose.project", "shop"}},
           "running"),
      item("two", {{{"PrivatePort", 80}, {"Type", "tcp"}}, {{"PrivatePort", 81}, {"Type", "tcp"}}},
           nlohmann::json::object(), "running"),
      item("bad", http, {{"berth.http.port", "eighty"}}, "running")};
}

nlohmann::json sleepers() {
  return {{{"Id", "sleepy-id"},
           {"Names", {"/sleepy"}},
           {"State", "exited"},
           {"Labels", {{"berth.wake", "true"}}},
           {"Ports", nlohmann::json::array()}}};
}

void check(bool ok) {
  if (!ok) std::abort();
}

// A page must be one whole response: a status line, a head, and exactly Content-Length bytes.
void checkPage(const std::string& reply, const std::string& host) {
  check(reply.rfind("HTTP/1.1 ", 0) == 0);
  const auto end = reply.find("\r\n\r\n");
  check(end != std::string::npos);
  const auto at = reply.find("Content-Length: ");
  check(at != std::string::npos && at < end);
  check(std::stoul(reply.substr(at + 16)) == reply.size() - end - 4);
  // The Host is shown escaped, and every '<' in the page opens one of the page's own tags.
  const std::string body = reply.substr(end + 4);
  check(body.find(berth::server::DomainPages::escape(host)) != std::string::npos);
  static const char* const kTags[] = {"<!doctype html>",
                                      "<html>",
                                      "</html>",
                                      "<head>",
                                      "</head>",
                                      "<meta ",
                                      "<title>",
                                      "</title>",
                                      "<body style=",
                                      "</body>",
                                      "<h1>",
                                      "</h1>",
                                      "<p>",
                                      "</p>",
                                      "<code>",
                                      "</code>",
                                      "<ul>",
                                      "</ul>",
                                      "<li>",
                                      "</li>",
                                      "<a href=\"",
                                      "</a>",
                                      "<small>",
                                      "</small>",
                                      "<style>",
                                      "</style>"};
  for (auto open = body.find('<'); open != std::string::npos; open = body.find('<', open + 1)) {
    bool known = false;
    for (const char* tag : kTags) known = known || body.compare(open, std::strlen(tag), tag) == 0;
    check(known);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  const bool up = (data[1] & 1) != 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);

  // The connection parses what it has read so far after every read.
  DomainHead head;
  std::size_t n = 0;
  do {
    n = std::min(n + piece, bytes.size());
    const DomainHead now = DomainHead::parse(bytes.substr(0, n));
    if (head.state == DomainHead::State::NeedMore) {
      head = now;
    } else {
      check(now.state == head.state && now.host == head.host);
    }
  } while (n < bytes.size());
  switch (head.state) {
    case DomainHead::State::NeedMore:
      check(bytes.size() < DomainHead::kMaxHead);
      return 0;
    case DomainHead::State::Bad:
      check(!head.why.empty());
      return 0;
    case DomainHead::State::Done:
      check(!head.host.empty());
      break;
  }

  auto router = std::make_shared<DomainRouter>("dev", [](const std::string& profile) {
    return profile == "other" ? std::uint16_t{41000} : std::uint16_t{0};
  });
  if (up) {
    router->guestUp(nullptr);
    router->setContainers(containers(), sleepers());
  }
  const DomainRouter::Route route = router->route(head.host);
  if (!route.reply.empty()) {
    checkPage(route.reply, head.host);
  } else {
    check(route.target.port() != 0);
    check(!route.describe.empty());
    check(route.other_profile || up);
    check(route.other_profile == route.container.empty());
  }
  return 0;
}
