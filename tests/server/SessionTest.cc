// SessionTest: a real server::Session between two socketpairs, the client's and the engine's,
// whose session-side reads deliver 1-3 bytes at a time (or everything available, where a test
// needs bytes buffered past a head). The test plays client and engine with blocking sockets
// and checks the bytes each side sees exactly.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "api/ErrorBody.h"
#include "server/Session.h"
#include "server/net/SocketStream.h"

namespace berth::server {
namespace {

using namespace std::chrono_literals;
using Pieces = std::vector<std::size_t>;

const Pieces kTrickle{1, 2, 3, 2};  // bytes per read, cycled
const Pieces kWhole{};              // whatever the socket has

// Passes every call to the wrapped stream, but reads at most the next piece size.
class TrickleStream final : public net::ByteStream {
 public:
  TrickleStream(net::ByteStreamPtr inner, Pieces pieces)
      : inner_(std::move(inner)), pieces_(std::move(pieces)) {}
  boost::asio::any_io_executor executor() override { return inner_->executor(); }
  void readSome(boost::asio::mutable_buffer buffer, net::IoHandler handler) override {
    std::size_t n = buffer.size();
    if (!pieces_.empty()) n = std::min(n, pieces_[next_++ % pieces_.size()]);
    inner_->readSome(boost::asio::mutable_buffer(buffer.data(), n), std::move(handler));
  }
  void writeSome(std::span<const boost::asio::const_buffer> buffers,
                 net::IoHandler handler) override {
    inner_->writeSome(buffers, std::move(handler));
  }
  void shutdownSend(std::function<void(net::ErrorCode)> handler) override {
    inner_->shutdownSend(std::move(handler));
  }
  void close() override { inner_->close(); }
  std::string describe() const override { return inner_->describe(); }

 private:
  net::ByteStreamPtr inner_;
  Pieces pieces_;
  std::size_t next_ = 0;
};

// The test's end of a socketpair: blocking I/O, every wait bounded.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  ~Peer() { close(); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  void send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << "send: " << std::strerror(errno);
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // Exactly `n` bytes, or fewer at EOF or after a 5 s silence.
  std::string read(std::size_t n) {
    std::string out;
    char c;
    while (out.size() < n && readByte(&c)) out += c;
    return out;
  }
  // Up to and including `end`, or what came before EOF / a 5 s silence.
  std::string readUntil(std::string_view end) {
    std::string out;
    char c;
    while (!out.ends_with(end) && readByte(&c)) out += c;
    return out;
  }
  std::string readToEnd() { return readUntil(std::string_view("\0\0\0never", 8)); }
  // True when the peer's next read is EOF (not a timeout, not data).
  bool atEof() {
    char c;
    return !readByte(&c) && eof_;
  }
  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool readByte(char* c) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return false;  // silence: the caller's check fails
    ssize_t n = ::recv(fd_, c, 1, 0);
    eof_ = n == 0;
    return n == 1;
  }

  int fd_;
  bool eof_ = false;
};

// Reads a chunked body's chunks until `want` payload bytes came (chunk framing depends on how
// the relay's reads fell, so only the payload is compared).
std::string readChunks(Peer& peer, std::size_t want) {
  std::string out;
  while (out.size() < want) {
    std::string line = peer.readUntil("\r\n");
    if (!line.ends_with("\r\n")) break;
    std::size_t n = std::stoul(line, nullptr, 16);
    if (n == 0) {
      ADD_FAILURE() << "last chunk after " << out.size() << " of " << want << " bytes";
      break;
    }
    out += peer.read(n);
    EXPECT_EQ(peer.read(2), "\r\n");
  }
  return out;
}

net::ByteStreamPtr sessionSide(boost::asio::io_context& io, int fd, const char* name,
                               const Pieces& pieces) {
  using Protocol = boost::asio::local::stream_protocol;
  auto stream = std::make_unique<net::UnixStream>(Protocol::socket(io, Protocol(), fd), name);
  return std::make_unique<TrickleStream>(std::move(stream), pieces);
}

std::pair<int, int> socketPair() {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  return {sv[0], sv[1]};
}

// Hands the session one socketpair per connect; the test picks up the other end.
class EngineConnector final : public net::Connector {
 public:
  EngineConnector(boost::asio::io_context& io, const Pieces& pieces) : io_(io), pieces_(pieces) {}

  void connect(boost::asio::any_io_executor executor, net::ConnectHandler handler) override {
    if (refuse_) {
      boost::asio::post(executor, [handler = std::move(handler)] {
        net::ConnectError error{503, "the engine is not ready"};
        handler(nullptr, &error);
      });
      return;
    }
    auto [ours, theirs] = socketPair();
    auto stream = sessionSide(io_, ours, "engine", pieces_);
    {
      std::lock_guard lock(mutex_);
      peers_.push_back(std::make_unique<Peer>(theirs));
      ++connects_;
    }
    ready_.notify_all();
    boost::asio::post(executor, [handler = std::move(handler), s = std::move(stream)]() mutable {
      handler(std::move(s), nullptr);
    });
  }
  std::string describe() const override { return "test-engine"; }

  // The engine end of the next connection the session opens (null after 5 s).
  std::unique_ptr<Peer> accept() {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, 5s, [&] { return !peers_.empty(); })) return nullptr;
    auto peer = std::move(peers_.front());
    peers_.pop_front();
    return peer;
  }
  int connects() {
    std::lock_guard lock(mutex_);
    return connects_;
  }
  void refuse() { refuse_ = true; }

 private:
  boost::asio::io_context& io_;
  const Pieces& pieces_;
  std::atomic<bool> refuse_{false};
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::unique_ptr<Peer>> peers_;
  int connects_ = 0;
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = std::make_shared<EngineConnector>(io_, pieces_);
    auto config = std::make_shared<RelayConfig>();
    config->engine = engine_;
    config->on_connection_count = [this](int delta) { live_ += delta; };
    config_ = config;
    runner_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    EXPECT_TRUE(waitFor([&] { return live_ == 0; })) << live_ << " connection(s) still open";
    guard_.reset();
    io_.stop();
    runner_.join();
  }

  // A new client connection with a Session serving it.
  std::unique_ptr<Peer> connect() {
    auto [ours, theirs] = socketPair();
    boost::asio::post(io_, [this, fd = ours] {
      auto session =
          std::make_shared<Session>(sessionSide(io_, fd, "client", pieces_), config_, ++ids_);
      session->start();
    });
    return std::make_unique<Peer>(theirs);
  }

  // A new client that sent `request`, and the engine end that received it exactly (null when
  // no engine connection came).
  std::pair<std::unique_ptr<Peer>, std::unique_ptr<Peer>> exchange(const std::string& request) {
    auto client = connect();
    client->send(request);
    auto engine = engine_->accept();
    if (engine) {
      EXPECT_EQ(engine->read(request.size()), request);
    }
    return {std::move(client), std::move(engine)};
  }

  template <class Pred>
  bool waitFor(Pred pred) {
    for (auto deadline = std::chrono::steady_clock::now() + 5s; !pred();) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  Pieces pieces_ = kTrickle;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_ =
      boost::asio::make_work_guard(io_);
  std::shared_ptr<EngineConnector> engine_;
  std::shared_ptr<const RelayConfig> config_;
  std::atomic<int> live_{0};
  std::uint64_t ids_ = 0;
  std::thread runner_;
};

constexpr std::string_view kPing = "GET /v1.43/_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
constexpr std::string_view kVersion = "GET /v1.43/version HTTP/1.1\r\nHost: docker\r\n\r\n";
constexpr std::string_view kPong =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK";
constexpr std::string_view kVersionReply =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"
    "{\"Version\":\"24\"}\n";

// The connection still carries an exchange: a ping goes through and its answer comes back.
void expectKeptAlive(Peer& client, Peer& engine) {
  client.send(kPing);
  EXPECT_EQ(engine.read(kPing.size()), kPing);
  engine.send(kPong);
  EXPECT_EQ(client.read(kPong.size()), kPong);
}

TEST_F(SessionTest, PipelinedRequestsAreAnsweredInOrderOverOneEngineConnection) {
  auto client = connect();
  client->send(std::string(kPing) + std::string(kVersion) + std::string(kPing));
  auto engine = engine_->accept();
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->read(kPing.size()), kPing);
  engine->send(kPong);
  EXPECT_EQ(engine->read(kVersion.size()), kVersion);
  engine->send(kVersionReply);
  EXPECT_EQ(engine->read(kPing.size()), kPing);
  engine->send(kPong);
  EXPECT_EQ(client->read(2 * kPong.size() + kVersionReply.size()),
            std::string(kPong) + std::string(kVersionReply) + std::string(kPong));
  EXPECT_EQ(engine_->connects(), 1);
  client->close();
  EXPECT_TRUE(engine->atEof());  // the client's close ends the engine connection
}

TEST_F(SessionTest, ChunkedRequestBodyIsRelayedAndTheConnectionKeptAlive) {
  auto client = connect();
  const std::string head =
      "POST /v1.43/build?t=x HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  client->send(head + "4\r\nabcd\r\n3\r\nefg\r\n");
  auto engine = engine_->accept();
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->read(head.size()), head);
  EXPECT_EQ(readChunks(*engine, 7), "abcdefg");  // streamed before the body ends
  client->send("a\r\n0123456789\r\n0\r\n\r\n");
  EXPECT_EQ(readChunks(*engine, 10), "0123456789");
  EXPECT_EQ(engine->readUntil("\r\n\r\n"), "0\r\n\r\n");
  const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes";
  engine->send(reply);
  EXPECT_EQ(client->read(reply.size()), reply);
  expectKeptAlive(*client, *engine);
}

TEST_F(SessionTest, ChunkedResponseChunksAreFlushedOneByOne) {
  auto [client, engine] = exchange("GET /v1.43/events HTTP/1.1\r\nHost: docker\r\n\r\n");
  ASSERT_TRUE(engine);
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  engine->send(head + "8\r\n{\"a\":1}\n\r\n");
  EXPECT_EQ(client->read(head.size()), head);
  EXPECT_EQ(readChunks(*client, 8), "{\"a\":1}\n");  // before the engine sends more
  engine->send("8\r\n{\"b\":2}\n\r\n0\r\n\r\n");
  EXPECT_EQ(readChunks(*client, 8), "{\"b\":2}\n");
  EXPECT_EQ(client->readUntil("\r\n\r\n"), "0\r\n\r\n");
  expectKeptAlive(*client, *engine);
}

// A chunked reply goes on byte for byte too (chunk extensions, hex case, the trailer: nothing is
// framed again), and the exchange ends where its last chunk and trailer end.
TEST_F(SessionTest, AChunkedReplyIsRelayedAsWrittenAndEndsAtItsTrailer) {
  auto [client, engine] = exchange("GET /v1.43/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n");
  ASSERT_TRUE(engine);
  const std::string reply =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0A;note=\"x y\"\r\n[{\"Id\":1},\r\n00004\r\n{}]\n\r\n0\r\nX-Check: 1\r\n\r\n";
  engine->send(reply.substr(0, 60));
  engine->send(reply.substr(60));
  EXPECT_EQ(client->read(reply.size()), reply);
  expectKeptAlive(*client, *engine);
}

// A chunked reply whose framing is broken: a 502 while nothing was sent, else the client's
// connection closes (it cannot be told more in the middle of a body).
TEST_F(SessionTest, ABrokenChunkedReplyIsRefusedOrCut) {
  {
    auto [client, engine] = exchange(std::string(kPing));
    ASSERT_TRUE(engine);
    engine->send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    const std::string got = client->readToEnd();
    EXPECT_NE(got.find("502 Bad Gateway"), std::string::npos) << got;
    EXPECT_NE(got.find("chunked reply is malformed"), std::string::npos) << got;
  }
  {
    auto [client, engine] = exchange(std::string(kPing));
    ASSERT_TRUE(engine);
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    engine->send(head + "2\r\nok\r\n");
    EXPECT_EQ(client->read(head.size() + 7), head + "2\r\nok\r\n");
    engine->send("3\r\ntoolong\r\n");
    // What was framed right before the error may have gone on; nothing past it does.
    const std::string rest = client->readToEnd();
    EXPECT_EQ(std::string("3\r\ntoo").substr(0, rest.size()), rest);
    EXPECT_TRUE(client->atEof());
  }
}

// A reply with a Content-Length body reaches the client byte for byte as the engine wrote it
// (its head is not re-serialized: odd spacing and case stay), and each part of the body is
// passed on as soon as it arrives, before the rest is sent.
TEST_F(SessionTest, ALengthFramedReplyIsRelayedAsWrittenAndStreamed) {
  auto [client, engine] = exchange(
      "GET /v1.43/containers/c1/json HTTP/1.1\r\nHost: docker\r\nuser-agent:  odd  \r\n\r\n");
  ASSERT_TRUE(engine);
  const std::string head =
      "HTTP/1.1 200 OK\r\ncontent-type:   application/json\r\nX-Odd:\tvalue \r\n"
      "Content-Length: 12\r\n\r\n";
  engine->send(head + "{\"a\":");
  EXPECT_EQ(client->read(head.size() + 5), head + "{\"a\":");
  engine->send("1234");
  EXPECT_EQ(client->read(4), "1234");
  engine->send("5}\n");
  EXPECT_EQ(client->read(3), "5}\n");
  expectKeptAlive(*client, *engine);  // the body ended where its length said
}

// Heads that arrive in two reads, the first with the whole start line but not all fields: the
// parser takes the start line early, and both heads must still be relayed whole and once.
TEST_F(SessionTest, HeadsSplitAfterTheStartLineAreRelayedWhole) {
  pieces_ = kWhole;
  auto client = connect();
  client->send("GET /v1.43/_ping HTTP/1.1\r\nHost: docker\r\n");
  std::this_thread::sleep_for(50ms);
  client->send("X-A: 1\r\n\r\n");
  auto engine = engine_->accept();
  ASSERT_TRUE(engine);
  const std::string request = "GET /v1.43/_ping HTTP/1.1\r\nHost: docker\r\nX-A: 1\r\n\r\n";
  EXPECT_EQ(engine->read(request.size()), request);
  engine->send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n");
  std::this_thread::sleep_for(50ms);
  engine->send("Content-Length: 2\r\n\r\nOK");
  const std::string reply =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK";
  EXPECT_EQ(client->read(reply.size()), reply);
}

// HEAD: the reply's Content-Length describes a body that never comes.
TEST_F(SessionTest, AReplyToHeadEndsAtItsHead) {
  auto [client, engine] = exchange("HEAD /v1.43/_ping HTTP/1.1\r\nHost: docker\r\n\r\n");
  ASSERT_TRUE(engine);
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
  engine->send(head);
  EXPECT_EQ(client->read(head.size()), head);
  expectKeptAlive(*client, *engine);
}

// A 101 hands bytes buffered past both heads on first, then pipes both ways; the client's
// half-close reaches the engine as EOF and the engine's answer still reaches the client.
void upgradeAndHalfCloseFromClient(EngineConnector& engines, std::unique_ptr<Peer> client) {
  const std::string request =
      "POST /v1.43/containers/c1/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n"
      "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
  client->send(request + "early-in");
  auto engine = engines.accept();
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->read(request.size()), request);
  const std::string head =
      "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
      "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
  engine->send(head + "early-out");
  EXPECT_EQ(client->read(head.size() + 9), head + "early-out");
  EXPECT_EQ(engine->read(8), "early-in");
  client->send("ping");
  EXPECT_EQ(engine->read(4), "ping");
  engine->send("pong");
  EXPECT_EQ(client->read(4), "pong");
  client->shutdownWrite();
  EXPECT_TRUE(engine->atEof());
  engine->send("bye");
  EXPECT_EQ(client->read(3), "bye");
  engine->close();
  EXPECT_TRUE(client->atEof());
}

TEST_F(SessionTest, UpgradeWithBufferedBytesAndClientHalfCloseTrickled) {
  upgradeAndHalfCloseFromClient(*engine_, connect());
}

TEST_F(SessionTest, UpgradeWithBufferedBytesAndClientHalfCloseWholeReads) {
  pieces_ = kWhole;
  upgradeAndHalfCloseFromClient(*engine_, connect());
}

// exec start answered with a raw-stream 200 (no 101): the same pipe, bytes buffered past the
// request body and the response head handed on; the engine's half-close reaches the client,
// whose later bytes still reach the engine.
void rawStreamAndHalfCloseFromEngine(EngineConnector& engines, std::unique_ptr<Peer> client) {
  const std::string body = "{\"Detach\":false,\"Tty\":false}";
  const std::string request =
      "POST /v1.43/exec/e1/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  client->send(request + "stdin-1");
  auto engine = engines.accept();
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->read(request.size()), request);
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n";
  engine->send(head + "stdout-1");
  EXPECT_EQ(client->read(head.size() + 8), head + "stdout-1");
  EXPECT_EQ(engine->read(7), "stdin-1");
  engine->shutdownWrite();
  EXPECT_TRUE(client->atEof());
  client->send("stdin-2");
  EXPECT_EQ(engine->read(7), "stdin-2");
  client->close();
  EXPECT_TRUE(engine->atEof());
}

TEST_F(SessionTest, RawStreamHijackWithBufferedBytesAndEngineHalfCloseTrickled) {
  rawStreamAndHalfCloseFromEngine(*engine_, connect());
}

TEST_F(SessionTest, RawStreamHijackWithBufferedBytesAndEngineHalfCloseWholeReads) {
  pieces_ = kWhole;
  rawStreamAndHalfCloseFromEngine(*engine_, connect());
}

TEST_F(SessionTest, ClientGoneMidBodyClosesTheEngineConnection) {
  auto client = connect();
  const std::string head =
      "PUT /v1.43/containers/c1/archive?path=/ HTTP/1.1\r\nHost: docker\r\n"
      "Content-Type: application/x-tar\r\nContent-Length: 100\r\n\r\n";
  client->send(head + "0123456789");
  auto engine = engine_->accept();
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->read(head.size() + 10), head + "0123456789");
  client->close();
  EXPECT_TRUE(engine->atEof());
  EXPECT_TRUE(waitFor([&] { return live_ == 0; }));
}

TEST_F(SessionTest, EngineGoneBeforeAnsweringGivesADockerShapedError) {
  auto client = connect();
  client->send(kVersion);
  auto engine = engine_->accept();
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->read(kVersion.size()), kVersion);
  engine->close();
  const std::string body =
      api::errorBody("the Docker engine closed the connection before answering: end of stream");
  EXPECT_EQ(client->readToEnd(),
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nServer: berth\r\n"
            "Connection: close\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_TRUE(client->atEof());
}

TEST_F(SessionTest, EngineGoneMidStreamClosesTheClientWithoutAnError) {
  auto client = connect();
  const std::string request = "GET /v1.43/containers/c1/logs?follow=1 HTTP/1.1\r\nHost: d\r\n\r\n";
  client->send(request);
  auto engine = engine_->accept();
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->read(request.size()), request);
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  engine->send(head + "6\r\nline 1\r\n");
  EXPECT_EQ(client->read(head.size()), head);
  EXPECT_EQ(readChunks(*client, 6), "line 1");
  engine->close();
  EXPECT_EQ(client->readToEnd(), "");  // no last chunk, no error body: the connection closes
  EXPECT_TRUE(client->atEof());
}

TEST_F(SessionTest, EngineNotReachableGivesItsStatusAndMessage) {
  engine_->refuse();
  auto client = connect();
  client->send(kPing);
  const std::string body = api::errorBody("the engine is not ready");
  EXPECT_EQ(client->readToEnd(),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            "Server: berth\r\nConnection: close\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
}

}  // namespace
}  // namespace berth::server
