#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <string>

#include "server/HeadScan.h"

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

}  // namespace
}  // namespace berth::server
