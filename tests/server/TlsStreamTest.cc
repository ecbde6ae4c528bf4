#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <optional>

#include "server/TcpListener.h"
#include "server/net/TlsConnector.h"
#include "server/net/TlsStream.h"
#include "vm/TlsMaterial.h"

namespace berth::net {
namespace {

using Tcp = boost::asio::ip::tcp;

class TlsStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/b-sec-tlss-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = new std::string(tmpl);
    ours_ = new vm::TlsMaterial::Files(
        vm::TlsMaterial::ensure(*root_ + "/a", {"127.0.0.1", "localhost"}));
    theirs_ = new vm::TlsMaterial::Files(vm::TlsMaterial::ensure(*root_ + "/b", {"127.0.0.1"}));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*root_);
    delete root_;
    delete ours_;
    delete theirs_;
  }

  void SetUp() override {
    auto server_ctx = TlsContext::load(TlsContext::Role::Server, ours_->ca_cert, ours_->server_cert,
                                       ours_->server_key);
    listener_ = std::make_shared<server::TcpListener>(
        io_, "127.0.0.1", 0, server_ctx, [this](ByteStreamPtr s) { accepted_ = std::move(s); },
        server::TcpListener::Options{std::chrono::milliseconds(2000), 8});
    listener_->open();
    listener_->start();
  }
  void TearDown() override { listener_->stop(); }

  template <class Pred>
  bool runUntil(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.restart();
      io_.run_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  // Connects with `client_ctx`; returns the client stream, or null with `error` set.
  ByteStreamPtr connect(TlsContextPtr client_ctx, std::string name, std::string* error) {
    TlsConnector connector("127.0.0.1", listener_->port(), std::move(client_ctx), std::move(name),
                           std::chrono::seconds(5));
    bool done = false;
    ByteStreamPtr out;
    connector.connect(io_.get_executor(), [&](ByteStreamPtr s, const ConnectError* e) {
      out = std::move(s);
      if (e && error) *error = e->message;
      done = true;
    });
    EXPECT_TRUE(runUntil([&] { return done; }));
    return out;
  }

  TlsContextPtr clientContext(const vm::TlsMaterial::Files& f) {
    return TlsContext::load(TlsContext::Role::Client, f.client_ca, f.client_cert, f.client_key);
  }

  // Reads until EOF or error; returns the bytes and sets `end` to the final error.
  std::string readAll(ByteStream& s, ErrorCode* end) {
    std::string out;
    bool finished = false;
    std::vector<char> buf(4096);
    std::function<void()> next = [&] {
      s.readSome(boost::asio::buffer(buf), [&](ErrorCode ec, std::size_t n) {
        out.append(buf.data(), n);
        if (ec) {
          *end = ec;
          finished = true;
          return;
        }
        next();
      });
    };
    next();
    EXPECT_TRUE(runUntil([&] { return finished; }));
    return out;
  }

  void writeAll(ByteStream& s, const std::string& data) {
    std::size_t sent = 0;
    bool finished = false;
    std::function<void()> next = [&] {
      if (sent == data.size()) {
        finished = true;
        return;
      }
      boost::asio::const_buffer b(data.data() + sent, data.size() - sent);
      s.writeSome({&b, 1}, [&](ErrorCode ec, std::size_t n) {
        ASSERT_FALSE(ec) << ec.message();
        sent += n;
        next();
      });
    };
    next();
    ASSERT_TRUE(runUntil([&] { return finished; }));
  }

  void shutdownSend(ByteStream& s) {
    bool finished = false;
    s.shutdownSend([&](ErrorCode ec) {
      EXPECT_FALSE(ec) << ec.message();
      finished = true;
    });
    ASSERT_TRUE(runUntil([&] { return finished; }));
  }

  // The server must refuse `client_ctx`: nothing is accepted, and the client fails either in
  // its handshake or (TLS 1.3: the client finishes before the server has checked it) on its
  // first read, which sees the server's alert instead of a clean EOF.
  void expectRefusedByServer(TlsContextPtr client_ctx) {
    std::string error;
    auto client = connect(std::move(client_ctx), "127.0.0.1", &error);
    if (client) {
      ErrorCode end;
      readAll(*client, &end);
      EXPECT_TRUE(end);
      EXPECT_NE(end, boost::asio::error::eof);
    }
    io_.restart();
    io_.run_for(std::chrono::milliseconds(200));
    EXPECT_EQ(accepted_, nullptr);
  }

  static std::string* root_;
  static vm::TlsMaterial::Files* ours_;
  static vm::TlsMaterial::Files* theirs_;
  boost::asio::io_context io_;
  std::shared_ptr<server::TcpListener> listener_;
  ByteStreamPtr accepted_;
};

std::string* TlsStreamTest::root_ = nullptr;
vm::TlsMaterial::Files* TlsStreamTest::ours_ = nullptr;
vm::TlsMaterial::Files* TlsStreamTest::theirs_ = nullptr;

TEST_F(TlsStreamTest, HalfCloseEachWayKeepsTheOtherDirectionOpen) {
  std::string error;
  auto client = connect(clientContext(*ours_), "127.0.0.1", &error);
  ASSERT_TRUE(client) << error;
  ASSERT_TRUE(runUntil([&] { return accepted_ != nullptr; }));

  // The client sends, then close_notify (what Go's tls.Conn.CloseWrite does) ...
  writeAll(*client, "hi\n");
  shutdownSend(*client);
  ErrorCode end;
  EXPECT_EQ(readAll(*accepted_, &end), "hi\n");
  EXPECT_EQ(end, boost::asio::error::eof);
  // ... and the server still answers after it read EOF; then ends its side too.
  writeAll(*accepted_, "hi back\n");
  shutdownSend(*accepted_);
  EXPECT_EQ(readAll(*client, &end), "hi back\n");
  EXPECT_EQ(end, boost::asio::error::eof);
}

TEST_F(TlsStreamTest, LargeTransfersBothWaysAtOnce) {
  std::string error;
  auto client = connect(clientContext(*ours_), "localhost", &error);
  ASSERT_TRUE(client) << error;
  ASSERT_TRUE(runUntil([&] { return accepted_ != nullptr; }));
  std::string up(3 * 1024 * 1024 + 17, '\0'), down(2 * 1024 * 1024 + 5, '\0');
  for (std::size_t i = 0; i < up.size(); ++i) up[i] = static_cast<char>(i * 7 + i / 4096);
  for (std::size_t i = 0; i < down.size(); ++i) down[i] = static_cast<char>(i * 13 + 1);

  // Both sides write and read concurrently on one io_context: each stream has a read and a
  // write pending at the same time, as in a hijacked connection.
  std::string got_up, got_down;
  int finished = 0;
  std::vector<char> buf_a(8192), buf_b(8192);
  std::function<void(ByteStream&, std::string&, std::vector<char>&)> reader =
      [&](ByteStream& s, std::string& out, std::vector<char>& buf) {
        s.readSome(boost::asio::buffer(buf), [&](ErrorCode ec, std::size_t n) {
          out.append(buf.data(), n);
          if (ec) {
            ++finished;
            return;
          }
          reader(s, out, buf);
        });
      };
  std::function<void(ByteStream&, const std::string&, std::size_t)> writer =
      [&](ByteStream& s, const std::string& data, std::size_t sent) {
        if (sent == data.size()) {
          s.shutdownSend([&](ErrorCode ec) {
            EXPECT_FALSE(ec);
            ++finished;
          });
          return;
        }
        boost::asio::const_buffer b(data.data() + sent,
                                    std::min<std::size_t>(data.size() - sent, 100000));
        s.writeSome({&b, 1}, [&, sent](ErrorCode ec, std::size_t n) {
          ASSERT_FALSE(ec) << ec.message();
          writer(s, data, sent + n);
        });
      };
  reader(*accepted_, got_up, buf_a);
  reader(*client, got_down, buf_b);
  writer(*client, up, 0);
  writer(*accepted_, down, 0);
  ASSERT_TRUE(runUntil([&] { return finished == 4; }, std::chrono::seconds(30)));
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down == down);
}

TEST_F(TlsStreamTest, ClientCertificateOfAnotherCaIsRefused) {
  expectRefusedByServer(TlsContext::load(TlsContext::Role::Client, ours_->client_ca,
                                         theirs_->client_cert, theirs_->client_key));
}

TEST_F(TlsStreamTest, ClientWithoutCertificateIsRefused) {
  expectRefusedByServer(TlsContext::load(TlsContext::Role::Client, ours_->client_ca, "", ""));
}

TEST_F(TlsStreamTest, ServerOfAnotherCaOrNameIsRefusedByTheClient) {
  // Our client trusts only its CA: a server certificate from CA "b" fails verification.
  auto trusts_other = TlsContext::load(TlsContext::Role::Client, theirs_->client_ca,
                                       theirs_->client_cert, theirs_->client_key);
  std::string error;
  EXPECT_EQ(connect(trusts_other, "127.0.0.1", &error), nullptr);
  EXPECT_NE(error.find("TLS handshake failed"), std::string::npos) << error;
  EXPECT_NE(error.find("certificate"), std::string::npos) << error;

  error.clear();
  EXPECT_EQ(connect(clientContext(*ours_), "engine.example", &error), nullptr);
  EXPECT_NE(error.find("hostname mismatch"), std::string::npos) << error;
  error.clear();
  EXPECT_EQ(connect(clientContext(*ours_), "10.9.9.9", &error), nullptr);
  EXPECT_NE(error.find("IP address mismatch"), std::string::npos) << error;
}

TEST_F(TlsStreamTest, PlainHttpAndSilenceNeverReachTheAcceptHandler) {
  Tcp::socket plain(io_);
  plain.connect(Tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), listener_->port()));
  std::string req = "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::asio::write(plain, boost::asio::buffer(req));
  // A silent client: its handshake times out (2 s here) and the socket is closed.
  Tcp::socket silent(io_);
  silent.connect(Tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), listener_->port()));

  bool plain_closed = false, silent_closed = false;
  std::array<char, 512> b1{}, b2{};
  std::function<void()> read_plain = [&] {
    plain.async_read_some(boost::asio::buffer(b1), [&](ErrorCode ec, std::size_t) {
      if (ec) {
        plain_closed = true;
      } else {
        read_plain();  // an alert, then EOF
      }
    });
  };
  read_plain();
  silent.async_read_some(boost::asio::buffer(b2),
                         [&](ErrorCode ec, std::size_t) { silent_closed = static_cast<bool>(ec); });
  EXPECT_TRUE(runUntil([&] { return plain_closed; }, std::chrono::seconds(5)));
  EXPECT_TRUE(runUntil([&] { return silent_closed; }, std::chrono::seconds(5)));
  EXPECT_EQ(accepted_, nullptr);
}

}  // namespace
}  // namespace berth::net
