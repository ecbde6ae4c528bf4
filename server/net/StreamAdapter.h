#pragma once
// StreamAdapter: lets Beast's algorithms (http::async_read, async_write, ...) run over a
// ByteStream by meeting Asio's AsyncReadStream/AsyncWriteStream requirements. It borrows
// the stream; the stream must outlive every operation started through the adapter.
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <vector>

#include "server/net/ByteStream.h"

namespace berth::net {

class StreamAdapter {
 public:
  using executor_type = boost::asio::any_io_executor;

  explicit StreamAdapter(ByteStream& stream) : stream_(&stream) {}

  executor_type get_executor() {
    return stream_->executor();
  }  // NOLINT(readability-identifier-naming)
  ByteStream& stream() { return *stream_; }

  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(
      const MutableBufferSequence& buffers,  // NOLINT(readability-identifier-naming)
      ReadHandler&& handler) {
    return boost::asio::async_initiate<ReadHandler, void(ErrorCode, std::size_t)>(
        [this](auto h, const MutableBufferSequence& bufs) {
          boost::asio::mutable_buffer first;
          for (auto it = boost::asio::buffer_sequence_begin(bufs);
               it != boost::asio::buffer_sequence_end(bufs); ++it) {
            if (boost::asio::mutable_buffer(*it).size() > 0) {
              first = *it;
              break;
            }
          }
          stream_->readSome(first, [h = std::make_shared<decltype(h)>(std::move(h))](
                                       ErrorCode ec, std::size_t n) mutable { (*h)(ec, n); });
        },
        handler, buffers);
  }

  template <class ConstBufferSequence, class WriteHandler>
  auto async_write_some(
      const ConstBufferSequence& buffers,  // NOLINT(readability-identifier-naming)
      WriteHandler&& handler) {
    return boost::asio::async_initiate<WriteHandler, void(ErrorCode, std::size_t)>(
        [this](auto h, const ConstBufferSequence& bufs) {
          gather_.clear();
          for (auto it = boost::asio::buffer_sequence_begin(bufs);
               it != boost::asio::buffer_sequence_end(bufs); ++it) {
            boost::asio::const_buffer b(*it);
            if (b.size() > 0) gather_.push_back(b);
            if (gather_.size() == 16) break;  // writev needs no more per call
          }
          stream_->writeSome(gather_, [h = std::make_shared<decltype(h)>(std::move(h))](
                                          ErrorCode ec, std::size_t n) mutable { (*h)(ec, n); });
        },
        handler, buffers);
  }

 private:
  ByteStream* stream_;
  std::vector<boost::asio::const_buffer> gather_;
};

}  // namespace berth::net
