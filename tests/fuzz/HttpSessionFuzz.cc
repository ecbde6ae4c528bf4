// Fuzz target: the relay's request path — a real server::Session (Beast parsing of the request
// head and body, the limits, route matching, the mounts filter, the relay to the engine, the
// hijack switch) fed arbitrary client bytes, in pieces of a fuzzed size, in front of a scripted
// engine that answers with one of a few canned replies. Every input must end with the session
// closed and nothing pending (a hang is a bug the fuzzer reports as a timeout; a leak is
// reported by LeakSanitizer).
// Input: byte 0 = engine reply, byte 1 = piece size, byte 2 = flags, then the client's bytes.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "api/MountFilterFactory.h"
#include "server/Session.h"
#include "tests/api/MountTestFs.h"

namespace {

using berth::net::ErrorCode;

// A ByteStream whose reads deliver a script in pieces and whose writes are dropped. Completions
// are posted, as a socket's would be; after close() everything fails with operation_aborted.
class ScriptedStream final : public berth::net::ByteStream {
 public:
  ScriptedStream(boost::asio::any_io_executor executor, std::string script, std::size_t piece,
                 int repeats)
      : executor_(executor), script_(std::move(script)), piece_(piece), repeats_(repeats) {}

  boost::asio::any_io_executor executor() override { return executor_; }

  void readSome(boost::asio::mutable_buffer buffer, berth::net::IoHandler handler) override {
    if (closed_) return fail(std::move(handler));
    if (pos_ == script_.size() && repeats_ > 0) {
      --repeats_;
      pos_ = 0;
    }
    std::size_t n = std::min({piece_, buffer.size(), script_.size() - pos_});
    std::memcpy(buffer.data(), script_.data() + pos_, n);
    pos_ += n;
    ErrorCode ec = n == 0 && buffer.size() > 0 ? boost::asio::error::eof : ErrorCode{};
    boost::asio::post(executor_, [handler = std::move(handler), ec, n] { handler(ec, n); });
  }

  void writeSome(std::span<const boost::asio::const_buffer> buffers,
                 berth::net::IoHandler handler) override {
    if (closed_ || shut_) return fail(std::move(handler));
    std::size_t total = 0;
    for (const auto& b : buffers) total += b.size();
    std::size_t n = std::min(total, piece_ * 7 + 1);  // partial writes, like a busy socket
    boost::asio::post(executor_, [handler = std::move(handler), n] { handler({}, n); });
  }

  void shutdownSend(std::function<void(ErrorCode)> handler) override {
    shut_ = true;
    ErrorCode ec = closed_ ? ErrorCode(boost::asio::error::operation_aborted) : ErrorCode{};
    boost::asio::post(executor_, [handler = std::move(handler), ec] { handler(ec); });
  }

  void close() override { closed_ = true; }
  std::string describe() const override { return "scripted"; }

 private:
  void fail(berth::net::IoHandler handler) {
    boost::asio::post(executor_, [handler = std::move(handler)] {
      handler(boost::asio::error::operation_aborted, 0);
    });
  }

  boost::asio::any_io_executor executor_;
  std::string script_;
  std::size_t pos_ = 0;
  std::size_t piece_;
  int repeats_;
  bool closed_ = false;
  bool shut_ = false;
};

const char* const kEngineReplies[] = {
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\n[{}, \r\n3\r\n{}]\r\n0\r\n\r\n",
    "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
    "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nraw bytes after the upgrade",
    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nstdout bytes",
    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n"
    "{\"message\":\"No such thing\"}\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    "Content-Length: 13\r\n\r\n{\"Id\":\"abc\"}\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"truncated\":",
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 62\r\n\r\n"
    "[{\"Id\":\"a\",\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/host/home/x\"}]}]",
    "garbage that is not HTTP\r\n\r\n",
    "",
};

// A connector handing out scripted engine streams, or failing like an unreachable engine.
class ScriptedConnector final : public berth::net::Connector {
 public:
  ScriptedConnector(std::string reply, std::size_t piece, bool fails)
      : reply_(std::move(reply)), piece_(piece), fails_(fails) {}
  void connect(boost::asio::any_io_executor executor, berth::net::ConnectHandler handler) override {
    if (fails_) {
      boost::asio::post(executor, [handler = std::move(handler)] {
        berth::net::ConnectError error{503, "engine not ready"};
        handler(nullptr, &error);
      });
      return;
    }
    auto stream = std::make_unique<ScriptedStream>(executor, reply_, piece_, 3);
    boost::asio::post(executor, [handler = std::move(handler), s = std::move(stream)]() mutable {
      handler(std::move(s), nullptr);
    });
  }
  std::string describe() const override { return "scripted-engine"; }

 private:
  std::string reply_;
  std::size_t piece_;
  bool fails_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace berth;
  if (size < 3) return 0;
  const std::string reply = kEngineReplies[data[0] % (sizeof kEngineReplies / sizeof(char*))];
  const std::size_t piece = 1 + data[1] % 64 + (data[1] & 0x80 ? 4096 : 0);
  const bool engine_fails = (data[2] & 1) != 0;
  std::string client(reinterpret_cast<const char*>(data) + 3, size - 3);

  static const auto kFilters = [] {
    auto f = std::make_shared<api::FilterChainFactory>();
    f->add(std::string(api::MountFilterFactory::kName),
           std::make_shared<api::MountFilterFactory>(api::testing::testTranslator()));
    return f;
  }();
  auto config = std::make_shared<server::RelayConfig>();
  config->engine = std::make_shared<ScriptedConnector>(reply, piece, engine_fails);
  config->filters = kFilters;
  config->limits.max_header_bytes = std::size_t{8} << 10;
  config->limits.max_request_line = std::size_t{2} << 10;
  config->limits.max_header_count = 32;
  config->limits.max_filtered_body = std::size_t{64} << 10;
  config->limits.chunk_bytes = 1024;

  static boost::asio::io_context io;  // one for all inputs: it is empty after each run
  io.restart();
  auto stream = std::make_unique<ScriptedStream>(io.get_executor(), std::move(client), piece, 0);
  auto session = std::make_shared<server::Session>(std::move(stream), config, 1);
  session->start();
  session.reset();
  io.run();  // returns once the session has ended and nothing is pending
  return 0;
}
