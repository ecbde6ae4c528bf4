#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <random>
#include <string>

#include "server/ChunkedFraming.h"

namespace berth::server {
namespace {

// Feeds `body` in pieces of at most `piece` bytes; returns the bytes taken in all.
std::size_t feed(ChunkedFraming& framing, const std::string& body, std::size_t piece) {
  std::size_t taken = 0;
  while (taken < body.size() && !framing.done() && !framing.failed()) {
    const std::string_view rest(body.data() + taken, std::min(piece, body.size() - taken));
    const std::size_t n = framing.take(rest);
    taken += n;
    if (n < rest.size()) break;
  }
  return taken;
}

TEST(ChunkedFramingTest, FindsTheEndOfABodyFedWholeOrByteByByte) {
  const std::string body = "5\r\nhello\r\n1a;name=\"v\"\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
  for (std::size_t piece : {body.size(), std::size_t{1}, std::size_t{3}, std::size_t{7}}) {
    ChunkedFraming framing;
    EXPECT_EQ(feed(framing, body, piece), body.size()) << piece;
    EXPECT_TRUE(framing.done()) << piece;
    EXPECT_EQ(framing.failed(), nullptr);
  }
}

TEST(ChunkedFramingTest, StopsAtTheEndAndLeavesTheNextMessage) {
  const std::string body = "3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n";
  ChunkedFraming framing;
  EXPECT_EQ(framing.take(body + "HTTP/1.1 200 OK\r\n"), body.size());
  EXPECT_TRUE(framing.done());
  EXPECT_EQ(framing.take("more"), 0u);  // one message per object
}

TEST(ChunkedFramingTest, CountsLargeChunksWithoutReadingThem) {
  const std::string data(1 << 20, '\r');  // CR and LF inside data are data
  const std::string body = "100000\r\n" + data + "\r\n0\r\n\r\n";
  ChunkedFraming framing;
  EXPECT_EQ(feed(framing, body, 65536), body.size());
  EXPECT_TRUE(framing.done());
}

TEST(ChunkedFramingTest, RefusesBrokenFraming) {
  const char* broken[] = {
      "x\r\n",                  // not hex
      "\r\n",                   // no size
      "5\nhello\r\n",           // LF without CR
      "3\r\nabcd\r\n",          // data longer than its size
      "3\r\nabc\n",             // data not ended by CRLF
      "10000000000000000\r\n",  // 2^64: too large
      "0\r\nX: 1\n",            // trailer line without CR
      "3;\x01\r\n",             // control byte in an extension
      "0\r\n\rX",               // end without LF
  };
  for (const char* text : broken) {
    ChunkedFraming framing;
    feed(framing, text, 1);
    EXPECT_NE(framing.failed(), nullptr) << text;
    EXPECT_FALSE(framing.done()) << text;
  }
  ChunkedFraming long_line;
  feed(long_line, "1;" + std::string(ChunkedFraming::kMaxLine, 'e') + "\r\n", 100);
  EXPECT_NE(long_line.failed(), nullptr);
}

// Random chunked bodies (sizes, extensions, trailers), each also cut at a random point: where
// Beast's parser says the message ends, the framing says so too, and it fails where Beast does.
TEST(ChunkedFramingTest, EndsRandomBodiesWhereBeastsParserEndsThem) {
  std::mt19937 rng(19);
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int round = 0; round < 5000; ++round) {
    std::string body;
    const int chunks = static_cast<int>(rng() % 5);
    for (int c = 0; c < chunks; ++c) {
      const std::size_t size = 1 + rng() % 300;
      char hex[32];
      std::snprintf(hex, sizeof hex, (rng() % 2) ? "%zx" : "%zX", size);
      body += hex;
      if (rng() % 4 == 0) body += ";ext=" + std::to_string(rng() % 100);
      body += "\r\n" + std::string(size, static_cast<char>('a' + rng() % 26)) + "\r\n";
    }
    body += "0\r\n";
    if (rng() % 3 == 0) body += "X-Sum: " + std::to_string(rng()) + "\r\n";
    body += "\r\n";
    if (rng() % 4 == 0) body[rng() % body.size()] = static_cast<char>(rng() % 128);  // damage

    boost::beast::http::response_parser<boost::beast::http::string_body> beast;
    beast.eager(true);
    boost::beast::error_code ec;
    const std::string message = head + body + "TAIL";
    const std::size_t used = beast.put(boost::asio::buffer(message), ec);
    const bool beast_done = !ec && beast.is_done();
    ChunkedFraming framing;
    const std::size_t taken = feed(framing, body + "TAIL", 1 + rng() % 64);
    ASSERT_EQ(framing.done(), beast_done) << body;
    if (beast_done) {
      EXPECT_EQ(taken, used - head.size()) << body;
    }
  }
}

}  // namespace
}  // namespace berth::server
