#pragma once
// RequestLimits: the checks a parsed request head must pass before berth relays it (request
// line length, header count), beyond the byte limit the HTTP parser enforces itself. Pure;
// thread-safe.
#include <cstddef>
#include <optional>

#include "api/Filter.h"
#include "server/RelayConfig.h"

namespace berth::server {

class RequestLimits {
 public:
  // A Docker-shaped refusal (414 or 431) when the head breaks a limit, else nothing.
  static std::optional<api::LocalReply> check(std::size_t request_line_bytes,
                                              std::size_t header_count, const RelayLimits& limits);
};

}  // namespace berth::server
