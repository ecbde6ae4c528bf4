#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "server/net/ChildProcess.h"
#include "vm/EngineProbe.h"
#include "vm/TlsMaterial.h"

namespace berth::vm {
namespace {

namespace fs = std::filesystem;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// connect() (or bind(), with `bind_instead`) to 127.0.0.1:port succeeds.
bool tryPort(std::uint16_t port, bool bind_instead) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = loopback(port);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  bool ok = (bind_instead ? bind(fd, sa, sizeof addr) : connect(fd, sa, sizeof addr)) == 0;
  close(fd);
  return ok;
}

bool accepts(std::uint16_t port) { return tryPort(port, false); }

// A port of this suite's range (21900-21949) that nothing listens on now; tests run in parallel.
std::uint16_t freePort() {
  for (int i = 0; i < 50; ++i) {
    auto port = static_cast<std::uint16_t>(21900 + (getpid() + i) % 50);
    if (tryPort(port, true)) return port;
  }
  return 21900;
}

// A real mutual-TLS HTTP server (openssl s_server -HTTP, which sends files from its folder)
// standing in for dockerd --tlsverify: it answers /_ping with "OK" to a client whose
// certificate chains to the engine's CA.
class EngineProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/b-qemu-probeXXXXXX";
    dir_ = mkdtemp(tmpl);
    engine_ = TlsMaterial::ensure(dir_ + "/engine", {"127.0.0.1"});
    other_ = TlsMaterial::ensure(dir_ + "/other", {"127.0.0.1"});
    // s_server -HTTP sends a file as the whole response, head included.
    std::ofstream(dir_ + "/_ping") << "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK";
    port_ = freePort();
    net::SpawnOptions spawn;
    spawn.argv = {"sh", "-c",
                  "cd " + dir_ + " && exec openssl s_server -quiet -HTTP -accept 127.0.0.1:" +
                      std::to_string(port_) + " -cert " + engine_.server_cert + " -key " +
                      engine_.server_key + " -CAfile " + engine_.ca_cert +
                      " -Verify 1 -verify_return_error"};
    spawn.output = dir_ + "/server.log";
    server_.emplace(net::ChildProcess::spawn(spawn));
    for (int i = 0; i < 100 && !accepts(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  void TearDown() override {
    server_->stop(std::chrono::milliseconds(0), SIGKILL);
    fs::remove_all(dir_);
  }
  EngineEndpoint endpoint(const TlsMaterial::Files& client) const {
    EngineEndpoint e;
    e.kind = EngineEndpoint::Kind::TlsTcp;
    e.host = "127.0.0.1";
    e.port = port_;
    e.ca_file = engine_.client_ca;
    e.cert_file = client.client_cert;
    e.key_file = client.client_key;
    return e;
  }
  std::string dir_;
  TlsMaterial::Files engine_, other_;
  std::uint16_t port_ = 0;
  std::optional<net::ChildProcess> server_;
};

TEST_F(EngineProbeTest, TheEnginesOwnClientGetsOK) {
  std::string error;
  EXPECT_TRUE(EngineProbe(endpoint(engine_)).ping(std::chrono::seconds(10), error)) << error;
}

TEST_F(EngineProbeTest, AClientCertificateFromAnotherCaIsRefused) {
  std::string error;
  EXPECT_FALSE(EngineProbe(endpoint(other_)).ping(std::chrono::seconds(10), error));
  EXPECT_FALSE(error.empty());
}

TEST_F(EngineProbeTest, AServerOutsideTheEnginesCaIsNotTrusted) {
  auto e = endpoint(engine_);
  e.ca_file = other_.ca_cert;  // we trust only another CA: the engine's certificate fails
  std::string error;
  EXPECT_FALSE(EngineProbe(e).ping(std::chrono::seconds(10), error));
}

// QEMU's user network accepts a forwarded connection before the guest listens, then drops it:
// that must read as "not ready", never as ready.
TEST(EngineProbe, AnAcceptThenCloseIsNotReady) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = loopback(0);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  listen(fd, 4);
  std::thread closer([fd] {
    int c = accept(fd, nullptr, nullptr);
    if (c >= 0) close(c);
  });
  char tmpl[] = "/tmp/b-qemu-probe2XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto files = TlsMaterial::ensure(dir + "/t", {"127.0.0.1"});
  EngineEndpoint e;
  e.kind = EngineEndpoint::Kind::TlsTcp;
  e.host = "127.0.0.1";
  e.port = ntohs(addr.sin_port);
  e.ca_file = files.client_ca;
  e.cert_file = files.client_cert;
  e.key_file = files.client_key;
  std::string error;
  EXPECT_FALSE(EngineProbe(e).ping(std::chrono::seconds(5), error));
  EXPECT_FALSE(error.empty());
  closer.join();
  close(fd);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace berth::vm
