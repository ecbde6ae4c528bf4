#pragma once
// DomainName: what a request's Host names under berth's domain, `<name>.<profile>.berth.localhost`
// (README, "Containers by name"): the profile part and the name part before it, which is a
// container name or `<service>.<project>` of a compose container. Host names are compared in
// lowercase; a port and a trailing dot are ignored. Pure value code; thread-safe.
#include <optional>
#include <string>
#include <string_view>

namespace berth::server {

struct DomainName {
  static constexpr std::string_view kSuffix = ".berth.localhost";

  std::string name;     // "web", "web.shop"; "" for `<profile>.berth.localhost` itself
  std::string profile;  // "default"

  // Null when `host` (a Host header: "web.default.berth.localhost:8080") is not under
  // `.berth.localhost` or names no profile.
  static std::optional<DomainName> parse(std::string_view host);
  // The host name of `name` in `profile`: "web.default.berth.localhost".
  static std::string hostFor(const std::string& name, const std::string& profile);
};

}  // namespace berth::server
