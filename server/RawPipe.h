#pragma once
// RawPipe: after a hijack (101 Upgrade, or a raw-stream 200), pumps bytes both ways between
// client and engine until both directions end. When one direction reads EOF it half-closes its
// peer (shutdownSend) and the other direction keeps going: `echo hi | docker exec -i c cat`
// needs this. Owns both streams; lives while a pump is pending (shared_from_this). Runs on
// the connection's strand; not thread-safe.
#include <array>
#include <functional>
#include <memory>
#include <string>

#include "server/net/ByteStream.h"

namespace berth::server {

class RawPipe : public std::enable_shared_from_this<RawPipe> {
 public:
  // `to_engine` / `to_client` are bytes already read past the HTTP head on either side;
  // they are delivered first. `done` runs once when both directions have ended.
  RawPipe(net::ByteStreamPtr client, net::ByteStreamPtr engine, std::string to_engine,
          std::string to_client, std::size_t chunk_bytes, std::function<void()> done);
  void start();

 private:
  struct Direction {
    net::ByteStream* from = nullptr;
    net::ByteStream* to = nullptr;
    std::unique_ptr<char[]> buffer;  // chunk_bytes_, allocated at the first read, not zeroed
    std::string pending;             // bytes to write before the first read
    bool finished = false;
    const char* name = "";
  };

  void pump(Direction& d);
  void writeAll(Direction& d, const char* data, std::size_t size);
  void finish(Direction& d, const net::ErrorCode& ec);

  net::ByteStreamPtr client_;
  net::ByteStreamPtr engine_;
  std::size_t chunk_bytes_;
  Direction up_;    // client -> engine
  Direction down_;  // engine -> client
  std::function<void()> done_;
};

}  // namespace berth::server
