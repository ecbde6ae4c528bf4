#pragma once
// PlainReplyHead: one pass over a reply head of the plain kind the Docker engine writes for
// nearly every call: "HTTP/1.1 SSS reason", a single Content-Length, and no Connection,
// Proxy-Connection, Transfer-Encoding or Upgrade field, so the body's length is the
// Content-Length and the connection stays open. It accepts a subset of what Beast's parser
// accepts, with the same framing (HeadScanTest compares the two on many heads); anything else
// (an incomplete head, another version or framing, 1xx/204/304, a field Beast would refuse)
// gives nullopt and the caller parses with HeadScan. Why: Beast's field loop was a third of
// berth's instructions per small exchange (callgrind), and the relay needs only the framing.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace berth::server {

struct PlainReplyHead {
  int status = 0;
  std::uint64_t content_length = 0;
  std::size_t head_bytes = 0;  // through the blank line

  // `bytes` starts at the head; the head counts only if whole and within `header_limit`.
  static std::optional<PlainReplyHead> scan(std::string_view bytes, std::size_t header_limit);
};

}  // namespace berth::server
