#include "api/MountTranslator.h"

#include <cctype>
#include <deque>

#include "api/PathSegments.h"

namespace berth::api {
namespace {

std::vector<std::string> components(std::string_view path) {
  auto segments = pathSegments(path);
  return {segments.begin(), segments.end()};
}

std::string join(const std::vector<std::string>& parts) {
  if (parts.empty()) return "/";
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out;
}

// Lexical normal form of an absolute path: no `.`, `..`, duplicate or trailing slash.
std::string lexical(std::string_view path) {
  std::vector<std::string> out;
  for (auto& c : components(path)) {
    if (c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(std::move(c));
  }
  return join(out);
}

// The part of `path` below `prefix` ("" when equal), or nullopt when `path` is not `prefix`
// or under it. Both are normal; "/a" is not a prefix of "/ab".
std::optional<std::string_view> below(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return path.substr(1);
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return {};
  if (path.size() == prefix.size()) return std::string_view();
  if (path[prefix.size()] != '/') return {};
  return path.substr(prefix.size() + 1);
}

std::string under(const std::string& base, std::string_view rest) {
  if (rest.empty()) return base;
  return (base == "/" ? "" : base) + "/" + std::string(rest);
}

// The command that shares `location` at `mount_point` and keeps the current shares: `berth
// mount add` for a profile (a --mount flag on start would replace them), the --mount flag for
// the plain relay, which has no profile file.
std::string shareHint(const std::string& profile, const std::string& location,
                      const std::string& mount_point, bool write) {
  std::string flag = location;
  if (mount_point != location) flag += ":" + mount_point;
  if (write) flag += ":w";
  if (profile.empty()) {
    return "--mount " + flag + " beside the other --mount flags of berth daemon, and restart it";
  }
  std::string yaml = "{location: " + location;
  if (mount_point != location) yaml += ", mountPoint: " + mount_point;
  yaml += std::string(", writable: ") + (write ? "true" : "false") + "}";
  const bool named = profile != "default";
  return "berth mount add " + (named ? "-p " + profile + " " : std::string()) + flag +
         ", then berth restart" + (named ? " " + profile : std::string()) +
         " (or in berth.yaml: mounts: [" + yaml + "])";
}

}  // namespace

MountTranslator::MountTranslator(std::vector<Share> shares, LinkReader read_link,
                                 EngineSocket engine_socket, std::string profile)
    : shares_(std::move(shares)),
      read_link_(std::move(read_link)),
      engine_socket_(std::move(engine_socket)),
      profile_(std::move(profile)) {
  for (auto& alias : engine_socket_.host_aliases) alias = lexical(alias);
  for (const auto& share : shares_) {
    auto location = resolve(share.location);
    resolved_.push_back(
        {share, location ? *location : lexical(share.location), lexical(share.mount_point)});
  }
}

std::string MountTranslator::checkHostPath(std::string_view path) {
  if (path.empty()) return "the host path is empty";
  const bool drive =
      path.size() >= 2 && std::isalpha(static_cast<unsigned char>(path[0])) && path[1] == ':';
  // Built with append rather than `"'" + std::string(...)`: GCC 12 at -O3 warns
  // (-Wrestrict, a false positive) on the operator+ form.
  std::string quoted = "'";
  quoted.append(path).append("'");
  if (drive || path.find('\\') != std::string_view::npos) {
    return quoted +
           " is a Windows-style path, which the Linux guest cannot use; give the absolute "
           "POSIX path of the folder";
  }
  if (path[0] != '/') {
    return quoted + " is a relative path; bind mounts need an absolute host path (e.g. $PWD/" +
           std::string(path.rfind("./", 0) == 0 ? path.substr(2) : path) + ")";
  }
  return "";
}

std::optional<std::string> MountTranslator::resolve(std::string_view path) const {
  std::deque<std::string> todo;
  for (auto& c : components(path)) todo.push_back(std::move(c));
  std::vector<std::string> done;
  int links = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    done.push_back(std::move(c));
    std::optional<std::string> target = read_link_ ? read_link_(join(done)) : std::nullopt;
    if (!target || target->empty()) continue;
    if (++links > kMaxSymlinks) return std::nullopt;
    done.pop_back();
    if ((*target)[0] == '/') done.clear();
    auto parts = components(*target);
    todo.insert(todo.begin(), parts.begin(), parts.end());
  }
  return join(done);
}

GuestPath MountTranslator::toGuest(std::string_view host_path, bool write) const {
  if (auto why = checkHostPath(host_path); !why.empty()) return {"", "bind source " + why};
  if (!engine_socket_.guest_path.empty()) {
    // Matched before symlinks are resolved: on the host the alias may point anywhere (on
    // macOS /var/run/docker.sock is often a link to some other engine's socket).
    const std::string normal = lexical(host_path);
    for (const auto& alias : engine_socket_.host_aliases) {
      if (alias == normal) return {engine_socket_.guest_path, ""};
    }
  }
  auto resolved = resolve(host_path);
  if (!resolved) {
    return {"", "bind source " + std::string(host_path) +
                    ": too many levels of symbolic links on the host"};
  }
  const Resolved* best = nullptr;
  std::string_view rest;
  for (const auto& r : resolved_) {
    auto b = below(*resolved, r.location);
    if (b && (!best || r.location.size() > best->location.size())) {
      best = &r;
      rest = *b;
    }
  }
  std::string named = std::string(host_path);
  if (*resolved != host_path) named += " (resolves to " + *resolved + ")";
  if (!best) {
    std::string shared;
    for (const auto& r : resolved_) shared += (shared.empty() ? "" : ", ") + r.share.location;
    return {"", "bind source path " + named + " is not shared with the berth guest (shared: " +
                    (shared.empty() ? "nothing" : shared) + "); share it with " +
                    shareHint(profile_, *resolved, *resolved, write)};
  }
  if (write && !best->share.writable) {
    return {"", "bind source path " + named + " is in the read-only share " + best->share.location +
                    "; mount it read-only (:ro / readonly) or make the "
                    "share writable with " +
                    shareHint(profile_, best->share.location, best->share.mount_point, true)};
  }
  return {under(best->mount_point, rest), ""};
}

std::optional<std::string> MountTranslator::toHost(std::string_view guest_path) const {
  if (guest_path.empty() || guest_path[0] != '/') return std::nullopt;
  std::string normal = lexical(guest_path);
  if (!engine_socket_.host_aliases.empty() && !engine_socket_.guest_path.empty() &&
      normal == lexical(engine_socket_.guest_path)) {
    return engine_socket_.host_aliases.front();
  }
  const Resolved* best = nullptr;
  std::string_view rest;
  for (const auto& r : resolved_) {
    auto b = below(normal, r.mount_point);
    if (b && (!best || r.mount_point.size() > best->mount_point.size())) {
      best = &r;
      rest = *b;
    }
  }
  if (!best) return std::nullopt;
  return under(best->location, rest);
}

}  // namespace berth::api
