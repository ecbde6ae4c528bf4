#include "api/Route.h"

#include <array>
#include <vector>

#include "api/PathSegments.h"

namespace berth::api {
namespace {

bool isVersion(std::string_view s) {
  if (s.size() < 2 || s[0] != 'v') return false;
  bool dot = false;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (dot || i == 1 || i + 1 == s.size()) return false;
      dot = true;
    } else if (s[i] < '0' || s[i] > '9') {
      return false;
    }
  }
  return true;
}

}  // namespace

bool Route::mayHijack() const {
  return kind == RouteKind::ContainerAttach || kind == RouteKind::ExecStart ||
         kind == RouteKind::Session || kind == RouteKind::Grpc;
}

Route RouteMatcher::match(std::string_view method, std::string_view target) {
  Route route;
  std::string_view path = target;
  if (auto q = path.find('?'); q != std::string_view::npos) {
    route.query = std::string(path.substr(q + 1));
    path = path.substr(0, q);
  }
  auto segs = pathSegments(path);
  std::size_t first = 0;
  if (!segs.empty() && isVersion(segs[0])) {
    route.version = std::string(segs[0].substr(1));
    first = 1;
  }
  for (std::size_t i = first; i < segs.size(); ++i) {
    route.path.push_back('/');
    // insert, not append: GCC 12 at -O2 warns falsely (-Wrestrict) on append here, and the
    // CI build turns warnings into errors.
    route.path.insert(route.path.end(), segs[i].begin(), segs[i].end());
  }
  if (route.path.empty()) route.path.push_back('/');  // not = "/": -Wrestrict at -O3 too

  const std::size_t n = segs.size() - first;
  auto seg = [&](std::size_t i) { return segs[first + i]; };
  const bool get = method == "GET";
  const bool post = method == "POST";
  const bool head = method == "HEAD";
  const bool put = method == "PUT";

  if (n == 1) {
    if (seg(0) == "_ping" && (get || head))
      route.kind = RouteKind::Ping;
    else if (seg(0) == "version" && get)
      route.kind = RouteKind::Version;
    else if (seg(0) == "events" && get)
      route.kind = RouteKind::Events;
    else if (seg(0) == "build" && post)
      route.kind = RouteKind::Build;
    else if (seg(0) == "session" && post)
      route.kind = RouteKind::Session;
    else if (seg(0) == "grpc" && post)
      route.kind = RouteKind::Grpc;
  } else if (n == 2 && seg(0) == "containers") {
    if (seg(1) == "json" && get)
      route.kind = RouteKind::ContainerList;
    else if (seg(1) == "create" && post)
      route.kind = RouteKind::ContainerCreate;
  } else if (n == 2 && seg(0) == "volumes" && seg(1) == "create" && post) {
    route.kind = RouteKind::VolumeCreate;
  } else if (n == 3 && seg(0) == "containers") {
    route.id = std::string(seg(1));
    std::string_view action = seg(2);
    if (action == "json" && get)
      route.kind = RouteKind::ContainerInspect;
    else if (action == "start" && post)
      route.kind = RouteKind::ContainerStart;
    else if (action == "restart" && post)
      route.kind = RouteKind::ContainerRestart;
    else if (action == "attach" && post)
      route.kind = RouteKind::ContainerAttach;
    else if (action == "wait" && post)
      route.kind = RouteKind::ContainerWait;
    else if (action == "logs" && get)
      route.kind = RouteKind::ContainerLogs;
    else if (action == "archive" && (get || head || put))
      route.kind = RouteKind::ContainerArchive;
    else
      route.id.clear();
  } else if (n == 3 && seg(0) == "exec" && seg(2) == "start" && post) {
    route.id = std::string(seg(1));
    route.kind = RouteKind::ExecStart;
  }
  return route;
}

std::string_view routeKindName(RouteKind kind) {
  static constexpr std::array<std::string_view, 18> kNames = {"other",
                                                              "ping",
                                                              "version",
                                                              "events",
                                                              "container-list",
                                                              "container-create",
                                                              "container-inspect",
                                                              "container-start",
                                                              "container-restart",
                                                              "container-attach",
                                                              "container-wait",
                                                              "container-logs",
                                                              "container-archive",
                                                              "exec-start",
                                                              "volume-create",
                                                              "build",
                                                              "session",
                                                              "grpc"};
  return kNames[static_cast<std::size_t>(kind)];
}

}  // namespace berth::api
