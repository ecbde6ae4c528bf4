#pragma once
// OverloadReply: answers a connection berth will not serve (over the connection cap) with a
// Docker-shaped error and ends it without a reset: write the reply, half-close, read and drop
// what the client still sends for up to a second, then close. The request itself is never
// parsed. Owns the stream; lives while one of its operations is pending; runs on the stream's
// executor.
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <vector>

#include "server/net/ByteStream.h"

namespace berth::server {

class OverloadReply : public std::enable_shared_from_this<OverloadReply> {
 public:
  // `status` 503 (the only use so far); `message` goes into {"message": ...}.
  static void send(net::ByteStreamPtr stream, int status, const std::string& message);

  OverloadReply(net::ByteStreamPtr stream, std::string reply);

 private:
  void write();
  void drain();

  net::ByteStreamPtr stream_;
  std::string reply_;
  std::size_t sent_ = 0;
  std::vector<char> sink_;
  std::size_t drained_ = 0;
  boost::asio::steady_timer timer_;
};

}  // namespace berth::server
