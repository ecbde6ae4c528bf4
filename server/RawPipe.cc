#include "server/RawPipe.h"

#include <boost/asio/error.hpp>
#include <algorithm>

#include "server/net/Log.h"

namespace berth::server {

RawPipe::RawPipe(net::ByteStreamPtr client, net::ByteStreamPtr engine, std::string to_engine,
                 std::string to_client, std::size_t chunk_bytes, std::function<void()> done)
    : client_(std::move(client)), engine_(std::move(engine)), done_(std::move(done)) {
  up_ = Direction{client_.get(), engine_.get(), std::vector<char>(chunk_bytes),
                  std::move(to_engine), false, "client->engine"};
  down_ = Direction{engine_.get(), client_.get(), std::vector<char>(chunk_bytes),
                    std::move(to_client), false, "engine->client"};
}

void RawPipe::start() {
  for (Direction* d : {&up_, &down_}) {
    if (d->pending.empty()) {
      pump(*d);
      continue;
    }
    // Bytes the HTTP parser read past the head (e.g. BuildKit's HTTP/2 preface) go first.
    std::size_t n = d->pending.size();
    if (d->buffer.size() < n) d->buffer.resize(n);
    std::copy(d->pending.begin(), d->pending.end(), d->buffer.begin());
    d->pending.clear();
    writeAll(*d, d->buffer.data(), n);
  }
}

void RawPipe::pump(Direction& d) {
  auto self = shared_from_this();
  d.from->readSome(boost::asio::buffer(d.buffer), [this, self, &d](net::ErrorCode ec,
                                                                     std::size_t n) {
    if (ec) {
      finish(d, ec);
      return;
    }
    writeAll(d, d.buffer.data(), n);
  });
}

void RawPipe::writeAll(Direction& d, const char* data, std::size_t size) {
  auto self = shared_from_this();
  boost::asio::const_buffer buf(data, size);
  d.to->writeSome({&buf, 1}, [this, self, &d, data, size](net::ErrorCode ec, std::size_t n) {
    if (ec) {
      finish(d, ec);
      return;
    }
    if (n < size) {
      writeAll(d, data + n, size - n);
      return;
    }
    pump(d);
  });
}

void RawPipe::finish(Direction& d, const net::ErrorCode& ec) {
  if (d.finished) return;
  d.finished = true;
  if (ec != boost::asio::error::eof) {
    BERTH_LOG(Debug, "pipe", d.name << " ended: " << ec.message());
    // A broken direction (reset, abort) ends the whole pipe: nothing more can flow.
    client_->close();
    engine_->close();
  }
  auto self = shared_from_this();
  d.to->shutdownSend([this, self](net::ErrorCode) {
    if (up_.finished && down_.finished) {
      client_->close();
      engine_->close();
      if (done_) {
        auto done = std::move(done_);
        done_ = nullptr;
        done();
      }
    }
  });
}

}  // namespace berth::server
