#pragma once
// EngineClient: the few Docker Engine API calls forwarding needs, over a net::Connector (so it
// reaches the guest engine exactly as the relay does): one-shot GETs with a JSON body, and a
// streaming GET whose newline-delimited JSON records (`/events`) arrive one by one. One engine
// connection per call. Handlers run on the executor given at construction (a strand); call it
// from that executor only. Beast lives in EngineClient.cc alone.
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/net/Connector.h"

namespace berth::fwd {

class EngineClient {
 public:
  // `error` is empty on success; `status` is the HTTP status (0 when no reply came).
  using GetHandler = std::function<void(std::string error, int status, std::string body)>;
  using LineHandler = std::function<void(std::string_view line)>;
  using EndHandler = std::function<void(std::string reason)>;

  // A running stream; cancel() ends it without calling its end handler.
  class Stream {
   public:
    virtual ~Stream() = default;
    virtual void cancel() = 0;
  };

  EngineClient(net::ConnectorPtr connector, boost::asio::any_io_executor executor);

  void get(std::string target, GetHandler handler);
  // `on_open` runs once the engine answered 200 (the subscription is live); `on_line` for each
  // record; `on_end` once, when the stream breaks or could not open.
  std::shared_ptr<Stream> stream(std::string target, std::function<void()> on_open,
                                 LineHandler on_line, EndHandler on_end);

  const net::Connector& connector() const { return *connector_; }

 private:
  net::ConnectorPtr connector_;
  boost::asio::any_io_executor executor_;
};

}  // namespace berth::fwd
