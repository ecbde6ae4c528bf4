#pragma once
// MountTranslator: maps host paths named by Docker API requests to where the host folders are
// shared in the guest, and guest paths in replies back to host paths. A host path is
// normalised and its symlinks resolved (through the injected LinkReader, the only I/O), then
// the share with the longest matching location wins; `..` and symlinks can never leave it, as
// they are resolved before matching. Failures are values carrying one line for the user that
// names the path and the command that would share it for this profile (`berth mount add -p P`,
// or the plain relay's --mount flag). Immutable after
// construction; safe to share across threads if the LinkReader is.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/Share.h"

namespace berth::api {

// Reads one symlink on the host: its target (as readlink(2) gives it) when `absolute_path`
// is a symlink; nullopt when it is not, does not exist or cannot be read.
using LinkReader = std::function<std::optional<std::string>(const std::string& absolute_path)>;

struct GuestPath {
  std::string path;   // the guest path, when error is empty
  std::string error;  // one line for the user otherwise
  bool ok() const { return error.empty(); }
};

// Host paths that name the engine's own socket (`/var/run/docker.sock`, berth's socket):
// a container that drives its engine (testcontainers' Ryuk, CI runners) binds them, and gets
// the engine's socket in the guest whether or not the path is shared.
struct EngineSocket {
  std::vector<std::string> host_aliases;  // absolute host paths, matched after normalising
  std::string guest_path;                 // the engine's socket as the guest sees it
};

class MountTranslator {
 public:
  static constexpr int kMaxSymlinks = 40;  // as Linux's MAXSYMLINKS

  // Share locations are resolved through `read_link` too, so a share given as a symlinked path
  // (macOS /tmp, a symlinked home) matches what its folders resolve to. `profile` names the
  // profile whose shares these are, for the hint in errors; "" is the plain relay
  // (`berth daemon --socket`), whose shares are its --mount flags.
  MountTranslator(std::vector<Share> shares, LinkReader read_link, EngineSocket engine_socket = {},
                  std::string profile = {});

  // `host_path` as the client wrote it; `write` says the mount is not read-only.
  GuestPath toGuest(std::string_view host_path, bool write) const;
  // The host path for a guest path under a share's mount point (the first alias for the
  // engine's socket); nullopt for other paths.
  std::optional<std::string> toHost(std::string_view guest_path) const;

  // The absolute `path` with `.`, `..`, duplicate slashes and every symlink resolved; the part
  // that does not exist is normalised lexically. nullopt when symlinks loop.
  std::optional<std::string> resolve(std::string_view path) const;
  // Why `path` is not a usable absolute host path (relative, Windows-style, empty), or "".
  static std::string checkHostPath(std::string_view path);

  const std::vector<Share>& shares() const { return shares_; }

 private:
  struct Resolved {
    Share share;              // as configured (for messages)
    std::string location;     // resolved on the host
    std::string mount_point;  // normalised
  };
  std::vector<Resolved> resolved_;
  std::vector<Share> shares_;
  LinkReader read_link_;
  EngineSocket engine_socket_;
  std::string profile_;
};

}  // namespace berth::api
