#pragma once
// Digest: lowercase hex text of bytes and of a SHA-256, the one encoder for every place that
// names something by a digest (docker context folders, qemu saved states, downloaded files) or
// shows random bytes as text (the dashboard's secret). Pure functions: thread-safe.
#include <cstddef>
#include <string>
#include <string_view>

namespace berth::net {

class Digest {
 public:
  // Two lowercase hex digits per byte, most significant nibble first.
  static std::string hex(const unsigned char* data, std::size_t size);
  // The SHA-256 of `text` as 64 lowercase hex digits.
  static std::string sha256Hex(std::string_view text);
};

}  // namespace berth::net
