#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <mutex>
#include <thread>

#include "server/TcpListener.h"
#include "server/UnixListener.h"
#include "server/net/HttpClient.h"
#include "server/net/TlsConnector.h"
#include "server/net/UnixConnector.h"
#include "vm/TlsMaterial.h"

namespace berth::net {
namespace {

using namespace std::chrono_literals;

// What the server does once it has read a request: write each part after its delay, then close
// (or hold the connection open, silent, when `hang`).
struct Script {
  std::vector<std::pair<std::chrono::milliseconds, std::string>> parts;
  bool hang = false;
};

// One served connection: reads the request (head, and a Content-Length body), then plays the
// script. Lives on the server's io thread.
class ServedConnection : public std::enable_shared_from_this<ServedConnection> {
 public:
  ServedConnection(ByteStreamPtr stream, Script script, std::function<void(std::string)> seen)
      : stream_(std::move(stream)),
        timer_(stream_->executor()),
        script_(std::move(script)),
        seen_(std::move(seen)) {}

  void start() { read(); }

 private:
  void read() {
    stream_->readSome(boost::asio::buffer(buffer_),
                      [self = shared_from_this()](ErrorCode ec, std::size_t n) {
                        if (ec) return;
                        self->request_.append(self->buffer_.data(), n);
                        if (!self->complete()) return self->read();
                        self->seen_(self->request_);
                        self->play(0);
                      });
  }

  bool complete() const {
    auto end = request_.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    std::size_t length = 0;
    auto at = request_.find("Content-Length: ");
    if (at != std::string::npos && at < end) length = std::stoul(request_.substr(at + 16));
    return request_.size() >= end + 4 + length;
  }

  void play(std::size_t i) {
    if (i == script_.parts.size()) {
      if (script_.hang) return hold();
      return stream_->shutdownSend([self = shared_from_this()](ErrorCode) { self->hold(); });
    }
    timer_.expires_after(script_.parts[i].first);
    timer_.async_wait([self = shared_from_this(), i](ErrorCode ec) {
      if (ec) return;
      self->out_ = self->script_.parts[i].second;
      self->write(i, 0);
    });
  }

  void write(std::size_t i, std::size_t sent) {
    if (sent == out_.size()) return play(i + 1);
    boost::asio::const_buffer b(out_.data() + sent, out_.size() - sent);
    stream_->writeSome({&b, 1}, [self = shared_from_this(), i, sent](ErrorCode ec, std::size_t n) {
      if (!ec) self->write(i, sent + n);
    });
  }

  // Keeps the connection until the client goes (a read fails).
  void hold() {
    stream_->readSome(boost::asio::buffer(buffer_),
                      [self = shared_from_this()](ErrorCode ec, std::size_t) {
                        if (!ec) self->hold();
                      });
  }

  ByteStreamPtr stream_;
  boost::asio::steady_timer timer_;
  Script script_;
  std::function<void(std::string)> seen_;
  std::array<char, 4096> buffer_{};
  std::string request_, out_;
};

// A real server on a unix socket, or on 127.0.0.1 with mutual TLS, answering every connection
// with the same script on an io thread of its own.
class HttpClientTest : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/b-httpc-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = new std::string(tmpl);
    tls_ = new vm::TlsMaterial::Files(vm::TlsMaterial::ensure(*root_ + "/tls", {"127.0.0.1"}));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*root_);
    delete root_;
    delete tls_;
  }

  bool tls() const { return GetParam(); }

  void serve(const Script& script) {
    auto on_accept = [this, script](ByteStreamPtr stream) {
      std::make_shared<ServedConnection>(std::move(stream), script, [this](std::string request) {
        std::lock_guard lock(mutex_);
        requests_.push_back(std::move(request));
      })->start();
    };
    if (tls()) {
      auto context = TlsContext::load(TlsContext::Role::Server, tls_->ca_cert, tls_->server_cert,
                                      tls_->server_key);
      tcp_ = std::make_shared<server::TcpListener>(io_, "127.0.0.1", 0, context, on_accept);
      tcp_->open();
      tcp_->start();
    } else {
      const std::string path = *root_ + "/s" +
                               std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                               std::to_string(counter_++) + ".sock";
      unix_ = std::make_shared<server::UnixListener>(io_, path, on_accept);
      unix_->open();
      unix_->start();
    }
    thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }

  void TearDown() override {
    boost::asio::post(io_, [this] {
      if (tcp_) tcp_->stop();
      if (unix_) unix_->stop();
      io_.stop();
    });
    if (thread_.joinable()) thread_.join();
  }

  HttpClient client() const {
    if (tls()) {
      return HttpClient(TlsConnector::fromFiles("127.0.0.1", tcp_->port(), tls_->client_ca,
                                                tls_->client_cert, tls_->client_key));
    }
    return HttpClient::unixSocket(unix_->path());
  }

  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  static std::string* root_;
  static vm::TlsMaterial::Files* tls_;
  static inline int counter_ = 0;
  boost::asio::io_context io_;
  std::shared_ptr<server::TcpListener> tcp_;
  std::shared_ptr<server::UnixListener> unix_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
};

std::string* HttpClientTest::root_ = nullptr;
vm::TlsMaterial::Files* HttpClientTest::tls_ = nullptr;

TEST_P(HttpClientTest, ContentLengthReplyAndTheRequestAsSent) {
  serve({{{0ms, "HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n{\"Id\":\"x\"}\n"}}});
  auto reply = client().post("/v1.41/containers/create?name=a", 5s, "{\"Image\":\"bb\"}");
  EXPECT_EQ(reply.status, 201) << reply.error;
  EXPECT_EQ(reply.body, "{\"Id\":\"x\"}\n");
  EXPECT_TRUE(reply.error.empty());
  auto seen = requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].rfind("POST /v1.41/containers/create?name=a HTTP/1.1\r\n", 0), 0u) << seen[0];
  EXPECT_NE(seen[0].find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(seen[0].find("\r\n\r\n{\"Image\":\"bb\"}"), std::string::npos) << seen[0];
}

TEST_P(HttpClientTest, ChunkedReplyInPiecesIsReadWhole) {
  serve({{{0ms, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[{\"\r\n"},
          {30ms, "5\r\nId\":1\r\n"},
          {30ms, "2\r\n}]\r\n0\r\n\r\n"}}});
  auto reply = client().get("/containers/json", 5s);
  EXPECT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.body, "[{\"Id\":1}]");
}

TEST_P(HttpClientTest, ABodyToEndOfStreamIsReadWhole) {
  serve({{{0ms, "HTTP/1.0 200 OK\r\n\r\nno length, "}, {20ms, "ends at EOF"}}});
  auto reply = client().get("/_ping", 5s);
  EXPECT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.body, "no length, ends at EOF");
}

TEST_P(HttpClientTest, TheDeadlineEndsASilentServer) {
  serve({{{0ms, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part"}}, true});
  const auto t0 = std::chrono::steady_clock::now();
  auto reply = client().get("/events", 600ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(reply.status, 0);
  EXPECT_TRUE(reply.body.empty());
  EXPECT_NE(reply.error.find("timed out after 600ms waiting for an answer from"), std::string::npos)
      << reply.error;
  EXPECT_GE(took, 600ms);
  EXPECT_LT(took, 5s);  // bounded by the deadline, not by the server
}

TEST_P(HttpClientTest, AServerThatClosesEarlyIsAnError) {
  serve({{{0ms, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part"}}});
  auto reply = client().get("/containers/json", 5s);
  EXPECT_EQ(reply.status, 0);
  EXPECT_NE(reply.error.find("closed the connection in the middle of its answer"),
            std::string::npos)
      << reply.error;
}

TEST_P(HttpClientTest, AServerThatClosesWithoutAnsweringIsAnError) {
  serve({{}});
  auto reply = client().get("/_ping", 5s);
  EXPECT_EQ(reply.status, 0);
  EXPECT_NE(reply.error.find("closed the connection without answering"), std::string::npos)
      << reply.error;
}

TEST_P(HttpClientTest, WaitUntilAsksAgainUntilAccepted) {
  serve({{{0ms, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"}}});
  int asked = 0;
  HttpClient::Wait wait;
  wait.deadline = std::chrono::steady_clock::now() + 5s;
  wait.interval = 10ms;
  wait.keep_waiting = [&] { return ++asked < 100; };
  // Accepts only the third reply: the first two count as "not yet".
  int replies = 0;
  HttpResponse last;
  EXPECT_TRUE(client().waitUntil(
      "/_ping", [&](const HttpResponse& r) { return r.status == 200 && ++replies == 3; }, wait,
      &last));
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(last.body, "OK");
  // keep_waiting() saying false ends the wait at once.
  wait.keep_waiting = [] { return false; };
  EXPECT_FALSE(client().waitUntil(
      "/_ping", [](const HttpResponse&) { return true; }, wait));
}

INSTANTIATE_TEST_SUITE_P(Transports, HttpClientTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "MutualTls" : "Unix";
                         });

TEST(HttpClient, NothingListeningIsAnErrorNamingThePlace) {
  auto reply = HttpClient::unixSocket("/tmp/b-httpc-nothing-here.sock").get("/_ping", 2s);
  EXPECT_EQ(reply.status, 0);
  EXPECT_NE(reply.error.find("unix:///tmp/b-httpc-nothing-here.sock"), std::string::npos)
      << reply.error;
}

}  // namespace
}  // namespace berth::net
