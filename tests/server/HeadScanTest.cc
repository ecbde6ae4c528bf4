#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "server/HeadScan.h"
#include "server/PlainReplyHead.h"

namespace berth::server {
namespace {

namespace http = boost::beast::http;
using ErrorCode = boost::beast::error_code;

// Puts `wire` as the relay does: the bytes stay at the buffer's front, each put starts after
// the bytes taken so far, and more bytes arrive in `step`-sized reads.
template <bool isRequest>
std::size_t scan(HeadScan<isRequest>& parser, const std::string& wire, std::size_t step,
                 ErrorCode& ec) {
  std::size_t have = 0;
  std::size_t used = 0;
  while (!parser.is_header_done() && have < wire.size()) {
    have = std::min(wire.size(), have + step);
    parser.setBase(wire.data());
    ec = {};
    used += parser.put(boost::asio::buffer(wire.data() + used, have - used), ec);
    if (ec && ec != http::error::need_more) return used;
  }
  return used;
}

TEST(HeadScanTest, ARequestHeadGivesMethodTargetAndFieldsWhateverTheReadSizes) {
  const std::string wire =
      "POST /v1.43/containers/create?name=web HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\n"
      "Connection: Upgrade\r\nContent-Length: 0\r\n\r\n";
  for (std::size_t step : {wire.size(), std::size_t{1}, std::size_t{7}, std::size_t{50}}) {
    HeadScan<true> parser;
    ErrorCode ec;
    const std::size_t used = scan(parser, wire, step, ec);
    ASSERT_FALSE(ec) << ec.message() << " with reads of " << step;
    EXPECT_EQ(used, wire.size());
    EXPECT_EQ(parser.method(), http::verb::post);
    EXPECT_EQ(parser.methodString(wire.data()), "POST");
    EXPECT_EQ(parser.target(wire.data()), "/v1.43/containers/create?name=web");
    EXPECT_EQ(parser.fieldCount(), 4u);
    EXPECT_TRUE(parser.hasUpgrade());
    EXPECT_TRUE(parser.is_done());  // Content-Length: 0
  }
}

TEST(HeadScanTest, AReplyOfAnyLengthPassesItsHead) {
  // A 100 GiB export: the head must pass (the body streams), not fail on a body limit.
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: 107374182400\r\n\r\n";
  HeadScan<false> parser;
  ErrorCode ec;
  EXPECT_EQ(scan(parser, wire, wire.size(), ec), wire.size());
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(parser.status(), 200);
  EXPECT_EQ(parser.content_length().value_or(0), 107374182400u);
  EXPECT_FALSE(parser.is_done());
  EXPECT_FALSE(parser.hasUpgrade());
}

TEST(HeadScanTest, FramingAndKeepAliveAreBeastsOwn) {
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello";
  HeadScan<false> parser;
  ErrorCode ec;
  // The head ends before the first chunk: no body byte is taken.
  EXPECT_EQ(scan(parser, chunked, chunked.size(), ec), chunked.find("5\r\n"));
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.chunked());
  EXPECT_FALSE(parser.content_length().has_value());
  EXPECT_FALSE(parser.keep_alive());

  HeadScan<false> head_reply;
  head_reply.skip(true);  // the reply to a HEAD request: its length describes no body here
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
  EXPECT_EQ(scan(head_reply, head, head.size(), ec), head.size());
  EXPECT_TRUE(head_reply.is_done());
  EXPECT_TRUE(head_reply.keep_alive());
}

TEST(HeadScanTest, RefusesWhatTheFullParserRefusesWithTheSameError) {
  for (const std::string& wire : {std::string("GET / HTTP/1.1\r\nBad Field: x\r\n\r\n"),
                                  std::string("GET / HTTP/1.1\r\nContent-Length: 1\r\n"
                                              "Content-Length: 2\r\n\r\n"),
                                  std::string("GET  / HTTP/1.1\r\n\r\n")}) {
    HeadScan<true> scanned;
    ErrorCode scan_ec;
    scan(scanned, wire, wire.size(), scan_ec);
    http::request_parser<http::empty_body> full;
    ErrorCode full_ec;
    full.put(boost::asio::buffer(wire), full_ec);
    EXPECT_TRUE(scan_ec) << wire;
    EXPECT_EQ(scan_ec, full_ec) << wire;
  }
}

TEST(HeadScanTest, AHeadOverTheLimitIsRefused) {
  HeadScan<true> parser;
  parser.header_limit(64);
  const std::string wire = "GET / HTTP/1.1\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n";
  ErrorCode ec;
  scan(parser, wire, wire.size(), ec);
  EXPECT_EQ(ec, http::error::header_limit);
}

// What Beast's parser (through HeadScan) makes of a reply head, for comparison.
struct BeastFraming {
  bool accepted = false;
  int status = 0;
  std::optional<std::uint64_t> length;
  bool chunked = false;
  bool keep_alive = false;
  std::size_t head_bytes = 0;
};

BeastFraming beastFraming(const std::string& wire) {
  HeadScan<false> parser;
  parser.header_limit(8192);
  ErrorCode ec;
  BeastFraming out;
  out.head_bytes = scan(parser, wire, wire.size(), ec);
  if (ec || !parser.is_header_done()) return out;
  out.accepted = true;
  out.status = parser.status();
  if (auto length = parser.content_length()) out.length = *length;
  out.chunked = parser.chunked();
  out.keep_alive = parser.keep_alive();
  return out;
}

const std::string kPing =
    "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nCache-Control: no-cache, no-store, must-revalidate"
    "\r\nDocker-Experimental: false\r\nOstype: linux\r\nPragma: no-cache\r\nServer: "
    "Docker/20.10.24+dfsg1 (linux)\r\nDate: Thu, 03 Dec 2026 11:57:46 GMT\r\nContent-Length: 2"
    "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOK";

// A plain head must frame exactly as Beast does; a head it declines goes to Beast.
void expectAgreesWithBeast(const std::string& wire) {
  const auto plain = PlainReplyHead::scan(wire, 8192);
  if (!plain) return;
  const BeastFraming beast = beastFraming(wire);
  ASSERT_TRUE(beast.accepted) << "plain took a head Beast refuses: " << wire;
  EXPECT_EQ(plain->status, beast.status) << wire;
  EXPECT_EQ(std::optional<std::uint64_t>(plain->content_length), beast.length) << wire;
  EXPECT_FALSE(beast.chunked) << wire;
  EXPECT_TRUE(beast.keep_alive) << wire;
  EXPECT_EQ(plain->head_bytes, beast.head_bytes) << wire;
}

TEST(PlainReplyHeadTest, TheEnginesUsualReplyIsPlainAndFramedAsBeastFramesIt) {
  const auto plain = PlainReplyHead::scan(kPing, 8192);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ(plain->content_length, 2u);
  EXPECT_EQ(plain->head_bytes, kPing.size() - 2);
  expectAgreesWithBeast(kPing);
  // Only whole heads: any prefix is declined, and the caller reads on.
  for (std::size_t n = 0; n < plain->head_bytes; ++n) {
    EXPECT_FALSE(PlainReplyHead::scan(kPing.substr(0, n), 8192)) << n;
  }
  EXPECT_FALSE(PlainReplyHead::scan(kPing, plain->head_bytes - 1));  // over the limit
}

TEST(PlainReplyHeadTest, DeclinesEveryHeadThatIsNotPlain) {
  const std::string rest = "\r\nContent-Length: 5\r\n\r\n";
  for (const std::string& wire : std::vector<std::string>{
           "HTTP/1.0 200 OK" + rest,                   // keep-alive differs
           "HTTP/1.1 101 Switching Protocols" + rest,  // no body by status
           "HTTP/1.1 204 No Content" + rest,
           "HTTP/1.1 304 Not Modified" + rest,
           "HTTP/1.1 200 OK\r\nConnection: close" + rest,  // keep-alive differs
           "HTTP/1.1 200 OK\r\nproxy-connection: close" + rest,
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nUpgrade: tcp" + rest,
           "HTTP/1.1 200 OK\r\n\r\n",  // to end of stream
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
           "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 5\r\n\r\n",
           "HTTP/1.1 200 OK\r\nX-A : 1" + rest,
           "HTTP/1.1 200 OK\r\nX-A: a\x01b" + rest,
           "HTTP/1.1 200 OK\r\nX-A: a\x7f" + rest,
           "HTTP/1.1 200 OK\r\nX-A: a\rb" + rest,
           "HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\n",
           "HTTP/1.1 2x0 OK" + rest,
           "HTTP/1.1 200" + rest,
       }) {
    EXPECT_FALSE(PlainReplyHead::scan(wire, 8192)) << wire;
  }
  // What it takes, Beast takes the same way: tabs, obs-text, odd case, trailing spaces.
  for (const std::string& wire : std::vector<std::string>{
           "HTTP/1.1 404 Not Found\r\ncOnTeNt-LeNgTh:\t17 \t\r\nX-Note: caf\xc3\xa9\tok\r\n\r\n",
           "HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 000\r\nX-Empty:\r\n\r\n",
       }) {
    EXPECT_TRUE(PlainReplyHead::scan(wire, 8192)) << wire;
    expectAgreesWithBeast(wire);
  }
}

TEST(PlainReplyHeadTest, RandomlyDamagedHeadsAreDeclinedOrFramedAsBeastFramesThem) {
  // Every byte class that matters (CR, LF, HT, SP, controls, DEL, separators, obs-text, digits)
  // dropped into the engine's usual reply at random places, some heads many times over.
  static constexpr char kAlphabet[] =
      "\r\n\t :,;\"()/\x00\x01\x1f\x7f\x80\xff"
      "09azAZ-";
  const std::string alphabet(kAlphabet, sizeof kAlphabet - 1);
  std::mt19937 random(19);  // fixed: a failure reproduces
  int plain_count = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string wire = kPing;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % (wire.size() - 2);
      const char c = alphabet[random() % alphabet.size()];
      switch (random() % 3) {
        case 0:
          wire[at] = c;
          break;
        case 1:
          wire.insert(wire.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          wire.erase(at, 1);
          break;
      }
    }
    if (PlainReplyHead::scan(wire, 8192)) ++plain_count;
    expectAgreesWithBeast(wire);
    if (HasFailure()) return;
  }
  // The damage left thousands plain (in values, reasons): the comparison was really made.
  EXPECT_GT(plain_count, 1000);
}

}  // namespace
}  // namespace berth::server
