#include "vm/EngineProbe.h"

#include "server/net/TlsConnector.h"
#include "server/net/UnixConnector.h"

namespace berth::vm {
namespace {

bool answersOk(const net::HttpResponse& reply) { return reply.status == 200 && reply.body == "OK"; }

std::string whyNotOk(const net::HttpResponse& reply) {
  if (reply.status == 0) return reply.error;
  return "unexpected answer to /_ping: " + std::to_string(reply.status) + " " +
         reply.body.substr(0, 200);
}

}  // namespace

EngineProbe::EngineProbe(const EngineEndpoint& endpoint) : http_(connectorFor(endpoint)) {}

net::ConnectorPtr EngineProbe::connectorFor(const EngineEndpoint& endpoint) {
  if (endpoint.kind == EngineEndpoint::Kind::Unix) {
    return std::make_shared<net::UnixConnector>(endpoint.unix_path);
  }
  try {
    return net::TlsConnector::fromFiles(endpoint.host, endpoint.port, endpoint.ca_file,
                                        endpoint.cert_file, endpoint.key_file);
  } catch (const std::exception& e) {
    throw DriverError(e.what());
  }
}

bool EngineProbe::ping(std::chrono::milliseconds timeout, std::string& error) const {
  auto reply = http_.get("/_ping", timeout);
  if (answersOk(reply)) return true;
  error = whyNotOk(reply);
  return false;
}

bool EngineProbe::waitUntilAnswering(Clock::time_point deadline, std::chrono::milliseconds interval,
                                     const std::function<bool()>& keep_waiting,
                                     std::string& error) const {
  net::HttpClient::Wait wait;
  wait.deadline = deadline;
  wait.interval = interval;
  wait.attempt = std::chrono::seconds(3);
  wait.keep_waiting = keep_waiting;
  net::HttpResponse last;
  if (http_.waitUntil("/_ping", answersOk, wait, &last)) return true;
  error = whyNotOk(last);
  return false;
}

}  // namespace berth::vm
