#include "server/domains/DomainHead.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

namespace berth::server {

DomainHead DomainHead::parse(std::string_view bytes) {
  namespace http = boost::beast::http;
  DomainHead out;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxHead));
  parser.eager(false);  // the head only: a body is the container's to read
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec == http::error::need_more && bytes.size() < kMaxHead) return out;
  out.state = State::Bad;
  if (ec && ec != http::error::need_more) {
    out.why = "The request does not parse: " + ec.message();
  } else if (!parser.is_header_done()) {
    out.why = "The request head is longer than 64 KiB.";
  } else if (const auto host = parser.get()[http::field::host]; host.empty()) {
    out.why = "The request has no Host header: berth routes by it.";
  } else {
    out.state = State::Done;
    out.host = std::string(host);
  }
  return out;
}

}  // namespace berth::server
