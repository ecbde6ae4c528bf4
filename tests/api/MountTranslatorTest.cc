#include <gtest/gtest.h>

#include <random>

#include "api/MountTranslator.h"
#include "tests/api/MountTestFs.h"

namespace berth::api {
namespace {

using testing::fakeLinks;
using testing::testTranslator;

std::string guest(std::string_view host, bool write = true) {
  auto r = testTranslator()->toGuest(host, write);
  return r.ok() ? r.path : "ERROR: " + r.error;
}

std::string errorOf(std::string_view host, bool write = true) {
  auto r = testTranslator()->toGuest(host, write);
  EXPECT_FALSE(r.ok()) << host << " translated to " << r.path;
  return r.error;
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

TEST(MountTranslatorTest, MapsUnderTheShareMountPoint) {
  EXPECT_EQ(guest("/home/me/proj/x"), "/host/home/proj/x");
  EXPECT_EQ(guest("/home/me"), "/host/home");
  EXPECT_EQ(guest("/srv/data/a", false), "/srv/data/a");
}

TEST(MountTranslatorTest, NormalisesDotsAndSlashes) {
  EXPECT_EQ(guest("/home//me/./proj/../proj/x/"), "/host/home/proj/x");
  EXPECT_EQ(guest("/home/me/"), "/host/home");
  EXPECT_EQ(guest("//home///me//proj//"), "/host/home/proj");
  EXPECT_EQ(guest("/home/me/proj/."), "/host/home/proj");
}

TEST(MountTranslatorTest, LongestPrefixWins) {
  EXPECT_EQ(guest("/home/me/ro/a", false), "/host/ro/a");
  EXPECT_EQ(guest("/home/me/ro", false), "/host/ro");
  EXPECT_EQ(guest("/home/me/rox"), "/host/home/rox");  // a name prefix is no path prefix
  EXPECT_EQ(guest("/srv/data/scratch/f"), "/scratch/f");
  EXPECT_EQ(guest("/srv/data/scratchy", false), "/srv/data/scratchy");
}

TEST(MountTranslatorTest, WriteToReadOnlyShareIsAnError) {
  std::string e = errorOf("/home/me/ro/a", true);
  EXPECT_TRUE(contains(e, "/home/me/ro/a")) << e;
  EXPECT_TRUE(contains(e, "read-only share /home/me/ro")) << e;
  EXPECT_TRUE(contains(e, "--mount /home/me/ro:/host/ro:w")) << e;
  EXPECT_TRUE(contains(e, "and restart it")) << e;
  e = errorOf("/srv/data/x", true);
  EXPECT_TRUE(contains(e, "--mount /srv/data:w")) << e;
  // A writable share nested in a read-only one takes writes.
  EXPECT_EQ(guest("/srv/data/scratch/x", true), "/scratch/x");
}

TEST(MountTranslatorTest, UnsharedPathNamesTheFlag) {
  std::string e = errorOf("/not/shared");
  EXPECT_TRUE(contains(e, "bind source path /not/shared is not shared")) << e;
  EXPECT_TRUE(contains(e, "--mount /not/shared:w beside the other --mount flags")) << e;
  EXPECT_FALSE(contains(e, "berth mount add")) << e;  // the plain relay has no profile
  EXPECT_TRUE(contains(e, "shared: /home/me, /home/me/ro")) << e;
  e = errorOf("/not/shared", false);
  EXPECT_TRUE(contains(e, "--mount /not/shared ")) << e;
  EXPECT_TRUE(contains(errorOf("/home/meow/x"), "/home/meow/x is not shared"));
}

// The hint names the profile the daemon serves: `-p NAME` except for `default`, which every
// command takes when none is named.
TEST(MountTranslatorTest, HintNamesTheProfile) {
  auto error_in = [](const std::string& profile, std::string_view path, bool write) {
    MountTranslator t(testing::testShares(), testing::fakeLinkReader(), {}, profile);
    return t.toGuest(path, write).error;
  };
  std::string e = error_in("dev", "/not/shared", true);
  EXPECT_TRUE(contains(e,
                       "share it with berth mount add -p dev /not/shared:w, then berth "
                       "restart dev (or in berth.yaml: mounts: [{location: /not/shared, "
                       "writable: true}])"))
      << e;
  e = error_in("default", "/not/shared", false);
  EXPECT_TRUE(contains(e, "share it with berth mount add /not/shared, then berth restart (or"))
      << e;
  EXPECT_FALSE(contains(e, "-p ")) << e;
  EXPECT_FALSE(contains(e, "PROFILE")) << e;
  e = error_in("dev", "/home/me/ro/a", true);
  EXPECT_TRUE(contains(e, "berth mount add -p dev /home/me/ro:/host/ro:w, then berth restart dev"))
      << e;
}

TEST(MountTranslatorTest, DotDotCannotEscape) {
  std::string e = errorOf("/home/me/../other/x");
  EXPECT_TRUE(contains(e, "/home/me/../other/x (resolves to /home/other/x)")) << e;
  EXPECT_TRUE(contains(errorOf("/home/me/proj/../../../etc"), "resolves to /etc"));
  EXPECT_TRUE(contains(errorOf("/srv/data/scratch/../../x"), "resolves to /srv/x"));
  // `..` that stays inside is fine; above the root stays at the root.
  EXPECT_EQ(guest("/home/me/proj/../x"), "/host/home/x");
  EXPECT_TRUE(contains(errorOf("/../../etc"), "resolves to /etc"));
}

TEST(MountTranslatorTest, SymlinksCannotEscape) {
  EXPECT_TRUE(contains(errorOf("/home/me/link-out/passwd"), "resolves to /etc/passwd"));
  EXPECT_TRUE(contains(errorOf("/home/me/rel-out/passwd"), "resolves to /etc/passwd"));
  EXPECT_TRUE(contains(errorOf("/home/me/link-out"), "resolves to /etc)"));
}

TEST(MountTranslatorTest, SymlinksInsideResolve) {
  EXPECT_EQ(guest("/home/me/link-in/a"), "/host/home/proj/a");
  EXPECT_EQ(guest("/home/me/proj/up/proj"), "/host/home/proj");
  // `..` after a symlink goes up from the link's target, as the kernel does.
  EXPECT_TRUE(contains(errorOf("/home/me/proj/up/../x", false), "resolves to /home/x)"));
  // A symlink into another share lands in that share, with that share's rights.
  EXPECT_EQ(guest("/home/me/to-ro/a", false), "/host/ro/a");
  EXPECT_TRUE(contains(errorOf("/home/me/to-ro/a", true), "read-only share /home/me/ro"));
  EXPECT_EQ(guest("/srv/data/to-home/a"), "/host/home/proj/a");
  EXPECT_EQ(guest("/srv/data/scratch-link/a"), "/scratch/a");
}

TEST(MountTranslatorTest, ShareBehindASymlinkMatchesBothSpellings) {
  EXPECT_EQ(guest("/tmp/s/x"), "/gtmp/x");
  EXPECT_EQ(guest("/private/tmp/s/x"), "/gtmp/x");
  EXPECT_TRUE(contains(errorOf("/tmp/other"), "/tmp/other (resolves to /private/tmp/other)"));
}

TEST(MountTranslatorTest, SymlinkLoopIsAnError) {
  EXPECT_TRUE(contains(errorOf("/home/me/loop1/x"), "too many levels of symbolic links"));
}

TEST(MountTranslatorTest, RefusesRelativeWindowsAndEmpty) {
  EXPECT_TRUE(contains(errorOf("data"), "'data' is a relative path"));
  EXPECT_TRUE(contains(errorOf("./data"), "e.g. $PWD/data"));
  EXPECT_TRUE(contains(errorOf("../data"), "relative"));
  EXPECT_TRUE(contains(errorOf("~/data"), "relative"));
  EXPECT_TRUE(contains(errorOf("C:\\Users\\me"), "Windows-style"));
  EXPECT_TRUE(contains(errorOf("c:/Users/me"), "Windows-style"));
  EXPECT_TRUE(contains(errorOf("\\\\server\\share"), "Windows-style"));
  EXPECT_TRUE(contains(errorOf(""), "empty"));
}

TEST(MountTranslatorTest, MapsGuestPathsBack) {
  auto t = testTranslator();
  EXPECT_EQ(t->toHost("/host/home/proj/x"), "/home/me/proj/x");
  EXPECT_EQ(t->toHost("/host/home"), "/home/me");
  EXPECT_EQ(t->toHost("/host/ro/a"), "/home/me/ro/a");
  EXPECT_EQ(t->toHost("/scratch/f"), "/srv/data/scratch/f");
  EXPECT_EQ(t->toHost("/gtmp/x"), "/private/tmp/s/x");
  EXPECT_EQ(t->toHost("/host/homeX"), std::nullopt);
  EXPECT_EQ(t->toHost("/var/lib/docker/volumes/v/_data"), std::nullopt);
  EXPECT_EQ(t->toHost("relative"), std::nullopt);
}

TEST(MountTranslatorTest, EngineSocketAliasesReachTheEngineSocket) {
  MountTranslator t(testing::testShares(), testing::fakeLinkReader(),
                    {{"/var/run/docker.sock", "/run/docker.sock", "/home/me/.berth/docker.sock"},
                     "/run/guest/docker.sock"});
  for (const char* alias : {"/var/run/docker.sock", "/var//run/./docker.sock", "/run/docker.sock",
                            "/home/me/.berth/docker.sock"}) {
    auto r = t.toGuest(alias, true);
    ASSERT_TRUE(r.ok()) << alias << ": " << r.error;
    EXPECT_EQ(r.path, "/run/guest/docker.sock") << alias;
  }
  // Not an alias: other files beside it follow the shares as usual.
  EXPECT_FALSE(t.toGuest("/var/run/docker.pid", false).ok());
  EXPECT_EQ(t.toGuest("/home/me/.berth/other", true).path, "/host/home/.berth/other");
  EXPECT_EQ(t.toHost("/run/guest/docker.sock"), "/var/run/docker.sock");
  // Without a guest socket path, aliases are plain paths (refused here: /var/run is unshared).
  MountTranslator plain(testing::testShares(), testing::fakeLinkReader(),
                        {{"/var/run/docker.sock"}, ""});
  EXPECT_FALSE(plain.toGuest("/var/run/docker.sock", false).ok());
  EXPECT_EQ(plain.toHost("/"), std::nullopt);
}

TEST(MountTranslatorTest, NoSharesMeansEveryPathIsRefused) {
  MountTranslator t({}, nullptr);
  auto r = t.toGuest("/home/me/x", true);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error, "(shared: nothing)")) << r.error;
}

// Property: thousands of generated paths (`..`, `.`, symlinks in and out, duplicate slashes)
// either fail, or translate to a guest path under the mount point of a share whose location
// holds the fully resolved host path, and map back to exactly that host path.
TEST(MountTranslatorTest, GeneratedPathsNeverLeaveTheirShare) {
  auto t = testTranslator();
  const std::vector<std::string> roots = {"/home/me",     "/", "/tmp/s", "/srv/data", "/home/me/ro",
                                          "/private/tmp", ""};
  const std::vector<std::string> parts = {
      "a",       "proj",    "..",  ".",    "",      "link-out", "rel-out",
      "link-in", "up",      "ro",  "me",   "home",  "etc",      "tmp",
      "s",       "scratch", "srv", "data", "to-ro", "to-home",  "scratch-link",
      "loop1",   "private"};
  std::mt19937 rng(20261128);
  int translated = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string path = roots[rng() % roots.size()];
    const int n = static_cast<int>(rng() % 8);
    for (int k = 0; k < n; ++k)
      path += std::string(1 + rng() % 2, '/') + parts[rng() % parts.size()];
    if (path.empty()) path = "/";
    const bool write = rng() % 2 == 0;
    auto r = t->toGuest(path, write);
    if (!r.ok()) {
      ++refused;
      continue;
    }
    ++translated;
    auto host = t->resolve(path);
    ASSERT_TRUE(host) << path;
    // The resolved host path holds no symlink, `.`, `..` or empty component.
    for (std::size_t at = 1; at <= host->size(); ++at) {
      if (at == host->size() || (*host)[at] == '/') {
        ASSERT_EQ(fakeLinks().count(host->substr(0, at)), 0u) << path << " -> " << *host;
      }
    }
    ASSERT_EQ(host->find("//"), std::string::npos) << *host;
    ASSERT_EQ(host->find("/./"), std::string::npos) << *host;
    ASSERT_EQ(host->find("/../"), std::string::npos) << *host;
    // It sits in the share with the longest location holding it, under that share's mount
    // point, and a write went only to a writable share.
    const Share* best = nullptr;
    std::string best_location;
    auto in = [](const std::string& p, const std::string& base) {
      return p == base || base == "/" || p.rfind(base + "/", 0) == 0;
    };
    for (const auto& s : t->shares()) {
      auto loc = t->resolve(s.location);
      if (in(*host, *loc) && (!best || loc->size() > best_location.size())) {
        best = &s;
        best_location = *loc;
      }
    }
    const bool inside =
        best && in(r.path, best->mount_point) &&
        r.path.substr(best->mount_point.size()) == host->substr(best_location.size());
    if (write && best) {
      ASSERT_TRUE(best->writable) << path;
    }
    ASSERT_TRUE(inside) << path << " -> " << r.path << " (host " << *host << ")";
    ASSERT_EQ(t->toHost(r.path), host) << path << " -> " << r.path;
  }
  RecordProperty("translated", translated);
  RecordProperty("refused", refused);
  // Both outcomes are common, so the property was really exercised.
  EXPECT_GT(translated, 4000);
  EXPECT_GT(refused, 4000);
}

}  // namespace
}  // namespace berth::api
