#include "server/RequestLimits.h"

#include <string>

namespace berth::server {

std::optional<api::LocalReply> RequestLimits::check(std::size_t request_line_bytes,
                                                    std::size_t header_count,
                                                    const RelayLimits& limits) {
  if (request_line_bytes > limits.max_request_line) {
    return api::LocalReply{414, "request line too long (berth accepts at most " +
                                    std::to_string(limits.max_request_line) + " bytes)"};
  }
  if (header_count > limits.max_header_count) {
    return api::LocalReply{431, "too many header fields (berth accepts at most " +
                                    std::to_string(limits.max_header_count) + ")"};
  }
  return std::nullopt;
}

}  // namespace berth::server
