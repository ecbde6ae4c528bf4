#include "vm/MountFlag.h"

#include <filesystem>

namespace berth::vm {
namespace {

constexpr std::string_view kUsage = "use --mount HOST[:GUEST][:w], e.g. --mount /home/me/src:w";

[[noreturn]] void refuse(std::string_view flag, const std::string& why) {
  throw MountFlagError("--mount '" + std::string(flag) + "': " + why);
}

// "C:\x", "C:/x", "c:" or a UNC "\\server\share": a Windows path cannot name a folder that a
// Linux guest can share.
bool looksWindows(std::string_view s) {
  if (s.size() >= 2 && ((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) &&
      s[1] == ':' && (s.size() == 2 || s[2] == '\\' || s[2] == '/')) {
    return true;
  }
  return s.rfind("\\\\", 0) == 0 || s.find('\\') != std::string_view::npos;
}

// Lexically normal absolute path without a trailing slash ("/a//b/./c/../" -> "/a/b").
std::string normal(std::string_view path) {
  std::string out = std::filesystem::path(path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t colon = s.find(':', start);
    parts.push_back(s.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) return parts;
    start = colon + 1;
  }
}

}  // namespace

Share MountFlag::parse(std::string_view flag, std::string_view home) {
  if (flag.empty()) refuse(flag, std::string("empty value; ") + std::string(kUsage));
  if (looksWindows(flag)) {
    refuse(flag,
           "Windows-style paths cannot be shared with the Linux guest; give the folder's "
           "absolute POSIX path (e.g. /mnt/c/Users/me/src)");
  }
  auto parts = split(flag);
  Share share;
  share.writable = false;
  if (parts.size() > 1 && parts.back() == "w") {
    share.writable = true;
    parts.pop_back();
  }
  if (parts.size() == 3 && !parts[2].empty() && parts[2][0] != '/') {
    refuse(flag, "unknown mode '" + std::string(parts[2]) +
                     "': end with ':w' for a writable share, leave it off for read-only");
  }
  if (parts.size() > 2) {
    refuse(flag,
           "too many ':' parts (paths containing ':' cannot be shared; a mode other "
           "than 'w' is not known); " +
               std::string(kUsage));
  }
  std::string host(parts[0]);
  if (host.empty()) refuse(flag, "the host path is empty; " + std::string(kUsage));
  if (host[0] == '~' && (host.size() == 1 || host[1] == '/')) {
    if (home.empty()) refuse(flag, "cannot expand '~': no home directory is known");
    host = std::string(home) + host.substr(1);
  }
  if (host[0] != '/') {
    refuse(flag, "the host path '" + host + "' is relative; give an absolute path (e.g. " +
                     "$PWD/" + host + ")");
  }
  share.location = normal(host);
  if (parts.size() == 2) {
    std::string_view guest = parts[1];
    if (guest.empty()) refuse(flag, "the guest path is empty; " + std::string(kUsage));
    if (guest[0] != '/') {
      if (guest == "ro" || guest == "rw") {
        refuse(flag, "unknown mode '" + std::string(guest) +
                         "': end with ':w' for a writable share, leave it off for read-only");
      }
      refuse(flag, "the guest path '" + std::string(guest) + "' must be absolute");
    }
    share.mount_point = normal(guest);
  } else {
    share.mount_point = share.location;
  }
  if (share.mount_point == "/") {
    refuse(flag,
           "the guest path cannot be '/' (it would hide the guest's own root); "
           "give a folder, e.g. " +
               (share.location == "/" ? "/host" : share.location));
  }
  return share;
}

std::vector<Share> MountFlag::parseAll(const std::vector<std::string>& flags,
                                       std::string_view home) {
  std::vector<Share> shares;
  for (std::size_t i = 0; i < flags.size(); ++i) {
    Share share = parse(flags[i], home);
    for (std::size_t j = 0; j < shares.size(); ++j) {
      if (shares[j].location == share.location) {
        refuse(flags[i], "host folder " + share.location + " is already shared by --mount '" +
                             flags[j] + "'; give each folder once");
      }
      if (shares[j].mount_point == share.mount_point) {
        refuse(flags[i], "guest path " + share.mount_point + " is already used by --mount '" +
                             flags[j] + "'; give each share its own guest path");
      }
    }
    shares.push_back(std::move(share));
  }
  return shares;
}

std::string MountFlag::format(const Share& share) {
  std::string out = share.location;
  if (share.mount_point != share.location) out += ":" + share.mount_point;
  if (share.writable) out += ":w";
  return out;
}

}  // namespace berth::vm
