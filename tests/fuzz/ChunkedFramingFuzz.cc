// Fuzz target: server::ChunkedFraming against Beast's own chunked parser. The relay passes a
// chunked reply on as written and trusts ChunkedFraming to say where it ends, so the two must
// agree: where Beast's parser finishes the body, the framing finishes at the same byte, fed in
// pieces of any size; and the framing never finishes a body Beast's parser refuses.
// Input: byte 0 = piece size, then the body's bytes (after a fixed chunked reply head).
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/ChunkedFraming.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string message = head + std::string(body);
  boost::beast::http::response_parser<boost::beast::http::string_body> beast;
  beast.eager(true);
  beast.body_limit(1 << 20);
  boost::beast::error_code ec;
  const std::size_t used = beast.put(boost::asio::buffer(message), ec);
  const bool beast_done = !ec && beast.is_done();

  berth::server::ChunkedFraming framing;
  std::size_t taken = 0;
  while (taken < body.size() && !framing.done() && framing.failed() == nullptr) {
    const auto part = body.substr(taken, piece);
    const std::size_t n = framing.take(part);
    taken += n;
    if (n < part.size()) break;
  }
  if (framing.done() != beast_done) std::abort();
  if (beast_done && taken != used - head.size()) std::abort();
  return 0;
}
