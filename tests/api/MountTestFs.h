#pragma once
// A fake host file system for the mount tests: only symlinks matter to MountTranslator, so
// the fake is a map from absolute path to link target.
#include <map>
#include <string>

#include "api/MountTranslator.h"

namespace berth::api::testing {

inline const std::map<std::string, std::string>& fakeLinks() {
  static const std::map<std::string, std::string> kLinks = {
      {"/home/me/link-out", "/etc"},      // absolute escape
      {"/home/me/rel-out", "../../etc"},  // relative escape
      {"/home/me/link-in", "proj"},       // stays inside
      {"/home/me/proj/up", ".."},         // back to /home/me
      {"/home/me/to-ro", "/home/me/ro"},  // into the read-only nested share
      {"/home/me/loop1", "loop2"},
      {"/home/me/loop2", "/home/me/loop1"},
      {"/tmp", "/private/tmp"},  // as on macOS
      {"/srv/data/scratch-link", "scratch"},
      {"/srv/data/to-home", "/home/me/proj"},
  };
  return kLinks;
}

inline LinkReader fakeLinkReader() {
  return [](const std::string& path) -> std::optional<std::string> {
    auto it = fakeLinks().find(path);
    if (it == fakeLinks().end()) return std::nullopt;
    return it->second;
  };
}

// Shares used across the tests: nested, read-only inside writable and the reverse, one at the
// same guest path, one whose location is itself behind a symlink.
inline std::vector<Share> testShares() {
  return {
      {"/home/me", "/host/home", true},  {"/home/me/ro", "/host/ro", false},
      {"/srv/data", "/srv/data", false}, {"/srv/data/scratch", "/scratch", true},
      {"/tmp/s", "/gtmp", true},
  };
}

inline std::shared_ptr<const MountTranslator> testTranslator() {
  return std::make_shared<const MountTranslator>(testShares(), fakeLinkReader());
}

}  // namespace berth::api::testing
