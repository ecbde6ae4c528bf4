#pragma once
// EngineCall: one asynchronous HTTP/1.1 exchange with the Docker engine through a Connector (the
// dashboard uses the profile's own docker.sock, so its requests take the docker CLI's path:
// the relay and its filters). Whole mode reads the body (up to 8 MiB) and calls on_done once;
// stream mode hands on body bytes as they arrive (events, stats, logs?follow) and calls on_done
// when the body ends, fails or cancel() closes it. Handlers run on the executor given to
// start(); use it from that executor (a strand) only.
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/net/Connector.h"

namespace berth::server {

class EngineCall : public std::enable_shared_from_this<EngineCall> {
 public:
  struct Handlers {
    // Stream mode: the reply's status, before any body byte.
    std::function<void(int status)> on_head;
    // Stream mode: body bytes (de-chunked) as they come.
    std::function<void(std::string_view bytes)> on_data;
    // Exactly once. Whole mode: status and body; `error` is set (status 0) when no complete
    // reply came. Stream mode: the end of the stream (status as in on_head, or 0 with error).
    std::function<void(int status, std::string body, std::string error)> on_done;
  };

  static std::shared_ptr<EngineCall> start(boost::asio::any_io_executor executor,
                                           net::ConnectorPtr engine, std::string method,
                                           std::string target, bool stream, Handlers handlers);
  // Ends the exchange now (closes the connection); on_done follows if it has not run yet.
  void cancel();

  struct State;  // the connection and Beast's parser: EngineCall.cc only

  EngineCall(boost::asio::any_io_executor executor, bool stream, Handlers handlers);
  ~EngineCall();

 private:
  void run(net::ConnectorPtr engine, std::string method, std::string target);
  void readHeader();
  void readBody();
  void finish(int status, std::string error);

  boost::asio::any_io_executor executor_;
  bool stream_mode_;
  Handlers handlers_;
  std::unique_ptr<State> state_;
  bool done_ = false;
};

}  // namespace berth::server
