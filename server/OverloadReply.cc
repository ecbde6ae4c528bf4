#include "server/OverloadReply.h"

#include "api/ErrorBody.h"

namespace berth::server {
namespace {

constexpr std::size_t kMaxDrain =
    std::size_t{256} * 1024;  // more than any request head; then just close

const char* reasonOf(int status) {
  switch (status) {
    case 503:
      return "Service Unavailable";
    case 429:
      return "Too Many Requests";
    default:
      return "Error";
  }
}

}  // namespace

void OverloadReply::send(net::ByteStreamPtr stream, int status, const std::string& message) {
  std::string body = api::errorBody(message);
  std::string reply = "HTTP/1.1 " + std::to_string(status) + " " + reasonOf(status) +
                      "\r\nContent-Type: application/json\r\nServer: berth\r\n"
                      "Connection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
  std::make_shared<OverloadReply>(std::move(stream), std::move(reply))->write();
}

OverloadReply::OverloadReply(net::ByteStreamPtr stream, std::string reply)
    : stream_(std::move(stream)),
      reply_(std::move(reply)),
      sink_(std::size_t{16} * 1024),
      timer_(stream_->executor()) {}

void OverloadReply::write() {
  boost::asio::const_buffer b(reply_.data() + sent_, reply_.size() - sent_);
  stream_->writeSome({&b, 1}, [self = shared_from_this()](net::ErrorCode ec, std::size_t n) {
    if (ec) return self->stream_->close();
    self->sent_ += n;
    if (self->sent_ < self->reply_.size()) return self->write();
    self->stream_->shutdownSend([self](net::ErrorCode) {
      // Closing with unread bytes would reset the connection and could lose our reply.
      self->timer_.expires_after(std::chrono::seconds(1));
      self->timer_.async_wait([self](net::ErrorCode tec) {
        if (!tec) self->stream_->close();
      });
      self->drain();
    });
  });
}

void OverloadReply::drain() {
  stream_->readSome(boost::asio::buffer(sink_),
                    [self = shared_from_this()](net::ErrorCode ec, std::size_t n) {
                      self->drained_ += n;
                      if (ec || self->drained_ > kMaxDrain) {
                        self->timer_.cancel();
                        self->stream_->close();
                        return;
                      }
                      self->drain();
                    });
}

}  // namespace berth::server
