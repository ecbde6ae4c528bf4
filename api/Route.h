#pragma once
// Route: what a Docker Engine API request is, from its method and target. Matching uses the
// path with any `/vX.Y` prefix stripped and the query removed; the original target is never
// changed (the relay forwards it as sent). Pure and thread-safe.
#include <string>
#include <string_view>

namespace berth::api {

enum class RouteKind {
  Other,
  Ping,
  Version,
  Events,
  ContainerList,
  ContainerCreate,
  ContainerInspect,
  ContainerStart,
  ContainerRestart,
  ContainerAttach,
  ContainerWait,
  ContainerLogs,
  ContainerArchive,
  ExecStart,
  VolumeCreate,
  Build,
  Session,  // POST /session (BuildKit, hijacked)
  Grpc,     // POST /grpc (BuildKit, hijacked)
};

struct Route {
  RouteKind kind = RouteKind::Other;
  std::string version;  // "1.41" for "/v1.41/...", empty when the target had no prefix
  std::string path;     // prefix and query stripped, e.g. "/containers/abc/json"
  std::string query;    // without '?'
  std::string id;       // the {id}/{name} path parameter where the route has one

  // True for routes whose successful reply may switch the connection to a raw stream.
  bool mayHijack() const;
};

class RouteMatcher {
 public:
  static Route match(std::string_view method, std::string_view target);
};

std::string_view routeKindName(RouteKind kind);

}  // namespace berth::api
