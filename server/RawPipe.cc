#include "server/RawPipe.h"

#include <boost/asio/error.hpp>

#include "server/net/Log.h"

namespace berth::server {

RawPipe::RawPipe(net::ByteStreamPtr client, net::ByteStreamPtr engine, std::string to_engine,
                 std::string to_client, std::size_t chunk_bytes, std::function<void()> done)
    : client_(std::move(client)),
      engine_(std::move(engine)),
      chunk_bytes_(chunk_bytes),
      done_(std::move(done)) {
  up_.from = down_.to = client_.get();
  up_.to = down_.from = engine_.get();
  up_.pending = std::move(to_engine);
  down_.pending = std::move(to_client);
  up_.name = "client->engine";
  down_.name = "engine->client";
}

void RawPipe::start() {
  for (Direction* d : {&up_, &down_}) {
    if (d->pending.empty()) {
      pump(*d);
      continue;
    }
    // Bytes the HTTP parser read past the head (e.g. BuildKit's HTTP/2 preface) go first,
    // straight from `pending`, which lives as long as the pipe.
    writeAll(*d, d->pending.data(), d->pending.size());
  }
}

void RawPipe::pump(Direction& d) {
  auto self = shared_from_this();
  if (!d.buffer) d.buffer = std::make_unique_for_overwrite<char[]>(chunk_bytes_);
  d.from->readSome(boost::asio::mutable_buffer(d.buffer.get(), chunk_bytes_),
                   [this, self, &d](net::ErrorCode ec, std::size_t n) {
                     if (ec) {
                       finish(d, ec);
                       return;
                     }
                     writeAll(d, d.buffer.get(), n);
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
