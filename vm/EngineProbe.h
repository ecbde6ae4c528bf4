#pragma once
// EngineProbe: control-plane access to a guest engine through the foundation's HttpClient: how
// to connect (unix socket or mutual TLS, from an EngineEndpoint), readiness, small queries.
// Readiness is only ever a real `GET /_ping` answering 200 "OK": a bare TCP connect proves
// nothing (QEMU's user network accepts on a forwarded port before the guest listens).
// Blocking, with deadlines; never on an I/O thread. Thread-safe: immutable after construction.
#include <chrono>
#include <functional>
#include <string>

#include "server/net/HttpClient.h"
#include "vm/Driver.h"

namespace berth::vm {

class EngineProbe {
 public:
  using Clock = std::chrono::steady_clock;

  // Loads a TlsTcp endpoint's certificates; throws DriverError with one clear line.
  explicit EngineProbe(const EngineEndpoint& endpoint);
  // How the host reaches `endpoint` (the relay uses the same); throws DriverError.
  static net::ConnectorPtr connectorFor(const EngineEndpoint& endpoint);

  // true when the engine answered 200 "OK" within `timeout`; on false, `error` says why.
  bool ping(std::chrono::milliseconds timeout, std::string& error) const;
  // The one "wait until the engine answers" of both drivers: pings until OK (true), the
  // deadline, or keep_waiting() saying false (asked before every ping; it may report progress
  // or throw). `error` gets the last ping's failure.
  bool waitUntilAnswering(Clock::time_point deadline, std::chrono::milliseconds interval,
                          const std::function<bool()>& keep_waiting, std::string& error) const;

  const net::HttpClient& http() const { return http_; }

 private:
  net::HttpClient http_;
};

}  // namespace berth::vm
