#include "server/net/HttpClient.h"

#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>

#include "server/net/HttpExchange.h"
#include "server/net/UnixConnector.h"

namespace berth::net {

HttpClient::HttpClient(ConnectorPtr connector, std::string host)
    : connector_(std::move(connector)), host_(std::move(host)) {}

HttpClient HttpClient::unixSocket(const std::string& path) {
  return HttpClient(std::make_shared<UnixConnector>(path));
}

HttpResponse HttpClient::request(const std::string& method, const std::string& target,
                                 std::chrono::milliseconds timeout, const std::string& body) const {
  // `io` outlives `exchange`'s handle: handlers still pending when the deadline passes (a
  // connect in progress, a read of the closed stream) hold the exchange and die with `io`.
  boost::asio::io_context io(1);
  HttpResponse reply;
  HttpExchange::Handlers handlers;
  handlers.on_end = [&reply](int status, std::string answer, std::string error) {
    reply = {status, std::move(answer), std::move(error)};
  };
  auto exchange = HttpExchange::start(*connector_, io.get_executor(), {method, target, host_, body},
                                      HttpExchange::Mode::Whole, std::move(handlers));
  const auto deadline = Clock::now() + timeout;
  while (!exchange->done() && io.run_one_until(deadline) > 0) {
  }
  if (!exchange->done())
    exchange->expire("timed out after " + std::to_string(timeout.count()) + "ms");
  return reply;
}

HttpDownload HttpClient::download(const std::string& target, std::chrono::milliseconds stall,
                                  const std::function<void(const HttpDownload&)>& on_head,
                                  const std::function<void(const char*, std::size_t)>& sink) const {
  boost::asio::io_context io(1);
  HttpDownload result;
  std::shared_ptr<HttpExchange> exchange;
  HttpExchange::Handlers handlers;
  handlers.on_head = [&](const HttpExchange::Head& head) {
    result.status = head.status;
    result.location = head.location;
    result.length = head.length.value_or(0);
    on_head(result);
    if (result.status != 200) exchange->cancel();  // only a 200's body is wanted
  };
  handlers.on_data = [&](std::string_view bytes) {
    result.received += bytes.size();
    sink(bytes.data(), bytes.size());
  };
  handlers.on_end = [&](int, const std::string&, std::string error) {
    result.error = std::move(error);
  };
  exchange = HttpExchange::start(*connector_, io.get_executor(), {"GET", target, host_, {}},
                                 HttpExchange::Mode::Stream, std::move(handlers));
  while (!exchange->done()) {
    const bool ran = io.run_one_until(exchange->progress() + stall) > 0;
    if (exchange->done()) break;
    if (Clock::now() >= exchange->progress() + stall || (!ran && io.stopped()))
      exchange->expire("no data for " + std::to_string(stall.count()) + "ms");
  }
  return result;
}

bool HttpClient::waitUntil(const std::string& target,
                           const std::function<bool(const HttpResponse&)>& accept, const Wait& wait,
                           HttpResponse* last) const {
  HttpResponse reply;
  reply.error = "not asked yet";
  bool accepted = false;
  for (;;) {
    if (wait.keep_waiting && !wait.keep_waiting()) break;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(wait.deadline - Clock::now());
    if (left.count() <= 0) break;
    reply = get(target, std::min(left, wait.attempt));
    if (accept(reply)) {
      accepted = true;
      break;
    }
    std::this_thread::sleep_for(std::min(
        wait.interval,
        std::chrono::duration_cast<std::chrono::milliseconds>(wait.deadline - Clock::now())));
  }
  if (last) *last = std::move(reply);
  return accepted;
}

}  // namespace berth::net
