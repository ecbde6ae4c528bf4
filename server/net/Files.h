#pragma once
// Files: the whole-file reads and writes of the control plane (state files, pid files, configs
// written for a guest). A write goes through a temporary beside the target and rename(2), so a
// reader (or a crash) sees the old content or the new, never a part. Blocking file I/O: never
// on an I/O thread. Thread-safe: no shared state.
#include <sys/types.h>

#include <optional>
#include <string>

namespace berth::net {

class Files {
 public:
  // The whole file, or nullopt when it cannot be opened.
  static std::optional<std::string> read(const std::string& path);
  // The whole file, or "" when it cannot be opened.
  static std::string readOr(const std::string& path, std::string fallback = {});
  // The content with trailing whitespace (newlines, spaces) removed; "" when unreadable.
  static std::string readTrimmed(const std::string& path);
  // Replaces `path` atomically with `content`, mode `mode`; throws std::runtime_error naming
  // the path and the reason.
  static void writeAtomic(const std::string& path, const std::string& content, mode_t mode = 0644);
};

}  // namespace berth::net
