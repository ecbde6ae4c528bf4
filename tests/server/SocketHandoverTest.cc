#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "server/SocketHandover.h"
#include "tests/TempDir.h"

namespace berth::server {
namespace {

// A listening unix socket bound at `path`; closed at the end of the test.
struct Listening {
  int fd = -1;
  explicit Listening(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << path;
    EXPECT_EQ(::listen(fd, 8), 0);
  }
  ~Listening() { ::close(fd); }
  // Accepts the connection waiting (up to 2 s); false when none came to this listener.
  bool accepted() const {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 2000) != 1) return false;
    const int conn = ::accept(fd, nullptr, nullptr);
    if (conn < 0) return false;
    ::close(conn);
    return true;
  }
  bool idle() const {
    pollfd ready{fd, POLLIN, 0};
    return ::poll(&ready, 1, 0) == 0;
  }
};

// Connects to `path` (and closes at once); the listener it reached has one to accept.
bool connectTo(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

mode_t modeOf(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

class SocketHandoverTest : public ::testing::Test {
 protected:
  test_support::TempDir dir_{"b-handover"};
};

TEST_F(SocketHandoverTest, ThePathReachesTheTargetAfterHandToAndOursAfterTakeBack) {
  const std::string path = dir_.path() + "/containerd.sock";
  const std::string target_path = dir_.path() + "/engine.sock";
  Listening ours(path);
  Listening target(target_path);
  ::chmod(target_path.c_str(), 0660);
  SocketHandover handover(path);
  handover.remember();
  EXPECT_FALSE(handover.handedOver());

  std::string why;
  ASSERT_TRUE(handover.handTo(target_path, why)) << why;
  EXPECT_TRUE(handover.handedOver());
  EXPECT_TRUE(SocketHandover::isHandedTo(path, target_path));
  EXPECT_EQ(modeOf(path), 0600u);  // the target's socket, private like ours
  ASSERT_TRUE(connectTo(path));
  EXPECT_TRUE(target.accepted());
  EXPECT_TRUE(ours.idle());
  ASSERT_TRUE(handover.handTo(target_path, why)) << why;  // again: nothing changes
  EXPECT_TRUE(SocketHandover::isHandedTo(path, target_path));

  ASSERT_TRUE(handover.takeBack(why)) << why;
  EXPECT_FALSE(handover.handedOver());
  EXPECT_FALSE(SocketHandover::isHandedTo(path, target_path));
  ASSERT_TRUE(connectTo(path));
  EXPECT_TRUE(ours.accepted());
  EXPECT_TRUE(target.idle());
  EXPECT_TRUE(std::filesystem::exists(target_path));  // the target's own name is untouched

  handover.forget();
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/.containerd.sock.berth"));
  EXPECT_TRUE(std::filesystem::exists(path));  // the listener's own to remove
}

TEST_F(SocketHandoverTest, ATargetThatIsNoSocketLeavesThePathOurs) {
  const std::string path = dir_.path() + "/containerd.sock";
  Listening ours(path);
  SocketHandover handover(path);
  handover.remember();
  std::string why;
  EXPECT_FALSE(handover.handTo(dir_.path() + "/missing.sock", why));
  EXPECT_NE(why.find("is not a socket"), std::string::npos) << why;
  const std::string file = dir_.path() + "/plain";
  ::close(::creat(file.c_str(), 0600));
  EXPECT_FALSE(handover.handTo(file, why));
  EXPECT_FALSE(handover.handedOver());
  ASSERT_TRUE(connectTo(path));
  EXPECT_TRUE(ours.accepted());
}

TEST_F(SocketHandoverTest, ARestartedTargetIsFollowedToItsNewSocket) {
  // An engine that restarts binds a new socket at its path: the old link reaches nothing.
  const std::string path = dir_.path() + "/containerd.sock";
  const std::string target_path = dir_.path() + "/engine.sock";
  Listening ours(path);
  SocketHandover handover(path);
  handover.remember();
  std::string why;
  {
    Listening first(target_path);
    ASSERT_TRUE(handover.handTo(target_path, why)) << why;
  }
  ::unlink(target_path.c_str());
  EXPECT_FALSE(connectTo(path));  // refused: the first engine is gone
  Listening second(target_path);
  EXPECT_FALSE(SocketHandover::isHandedTo(path, target_path));
  ASSERT_TRUE(handover.handTo(target_path, why)) << why;
  ASSERT_TRUE(connectTo(path));
  EXPECT_TRUE(second.accepted());
}

}  // namespace
}  // namespace berth::server
