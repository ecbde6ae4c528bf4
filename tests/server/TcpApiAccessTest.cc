#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <stdexcept>

#include "server/TcpApiAccess.h"
#include "server/net/UnixConnector.h"

namespace berth::server {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(TcpApiAccessTest, ParsesIpv4Ipv6AndLocalhost) {
  auto a = TcpApiAccess::parse("tcp://127.0.0.1:2376");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 2376);
  EXPECT_TRUE(a.isLoopback());
  EXPECT_FALSE(a.isWildcard());
  EXPECT_EQ(a.url(), "tcp://127.0.0.1:2376");

  auto b = TcpApiAccess::parse("tcp://[::1]:20001/");
  EXPECT_EQ(b.host, "::1");
  EXPECT_TRUE(b.isLoopback());
  EXPECT_EQ(b.url(), "tcp://[::1]:20001");

  EXPECT_EQ(TcpApiAccess::parse("tcp://localhost:1").host, "127.0.0.1");
  EXPECT_TRUE(TcpApiAccess::parse("tcp://0.0.0.0:2376").isWildcard());
  EXPECT_FALSE(TcpApiAccess::parse("tcp://10.1.2.3:2376").isLoopback());
}

TEST(TcpApiAccessTest, RefusesWhatIsNotTcpHostPort) {
  for (const char* bad :
       {"127.0.0.1:2376", "unix:///x", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:65536", "tcp://127.0.0.1:x1", "tcp://::1:2376", "tcp://[::1]2376",
        "tcp://example.com:2376", "tcp://:2376", "tcp://127.0.0.1:2376/../x"}) {
    EXPECT_THROW(TcpApiAccess::parse(bad), std::runtime_error) << bad;
  }
}

TEST(TcpApiAccessTest, ServerNamesCoverTheListenHosts) {
  auto names = TcpApiAccess::serverNames(
      {TcpApiAccess::parse("tcp://127.0.0.1:1"), TcpApiAccess::parse("tcp://[::1]:2")});
  EXPECT_TRUE(has(names, "localhost"));
  EXPECT_TRUE(has(names, "127.0.0.1"));
  EXPECT_TRUE(has(names, "::1"));
  auto wild = TcpApiAccess::serverNames({TcpApiAccess::parse("tcp://0.0.0.0:1")});
  EXPECT_TRUE(has(wild, "127.0.0.1"));
  EXPECT_FALSE(has(wild, "0.0.0.0"));
}

TEST(TcpApiAccessTest, PlainTcpOnlyOnLoopback) {
  boost::asio::io_context io;
  auto config = std::make_shared<RelayConfig>();
  config->engine = std::make_shared<net::UnixConnector>("/nonexistent");
  RelayServer relay(io, config);
  EXPECT_THROW(TcpApiAccess::open(relay, {"tcp://0.0.0.0:20999"}, "/nonexistent", true),
               std::runtime_error);
  auto envs = TcpApiAccess::open(relay, {"tcp://127.0.0.1:20990"}, "/nonexistent", true);
  ASSERT_EQ(envs.size(), 1u);
  EXPECT_FALSE(envs[0].tls_verify);
  EXPECT_EQ(envs[0].docker_host, "tcp://127.0.0.1:20990");
  EXPECT_EQ(envs[0].exports().find("DOCKER_TLS_VERIFY"), std::string::npos);
  relay.stop(std::chrono::milliseconds(0), [] {});
}

TEST(TcpApiAccessTest, TlsListenerMakesMaterialAndSaysHowToConnect) {
  char tmpl[] = "/tmp/b-sec-tcpa-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = std::string(tmpl) + "/tls";
  boost::asio::io_context io;
  auto config = std::make_shared<RelayConfig>();
  config->engine = std::make_shared<net::UnixConnector>("/nonexistent");
  RelayServer relay(io, config);
  auto envs = TcpApiAccess::open(relay, {"tcp://127.0.0.1:20991"}, dir, false);
  ASSERT_EQ(envs.size(), 1u);
  EXPECT_TRUE(envs[0].tls_verify);
  EXPECT_EQ(envs[0].docker_cert_path, dir + "/client");
  EXPECT_TRUE(std::filesystem::exists(dir + "/client/key.pem"));
  EXPECT_NE(envs[0].exports().find("DOCKER_TLS_VERIFY=1\nDOCKER_CERT_PATH=" + dir + "/client"),
            std::string::npos);
  relay.stop(std::chrono::milliseconds(0), [] {});
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace berth::server
