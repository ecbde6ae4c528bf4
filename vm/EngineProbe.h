#pragma once
// EngineProbe: asks a dockerd behind a mutual-TLS TCP endpoint for `GET /_ping` and says
// whether it answered 200 "OK". A bare TCP connect proves nothing (QEMU's user network accepts
// on a forwarded port before the guest listens), so readiness is only ever this real answer.
// Blocking, with a deadline; thread-safe (no shared state).
#include <chrono>
#include <string>

#include "vm/Driver.h"

namespace berth::vm {

class EngineProbe {
 public:
  // true when the engine answered 200 OK within `timeout`; on false, `error` says why.
  static bool ping(const EngineEndpoint& endpoint, std::chrono::milliseconds timeout,
                   std::string& error);
  // One GET of `target` (HTTP/1.0, so the body is never chunked); true with the status and body
  // when an HTTP answer arrived within `timeout`, else false with `error`.
  static bool get(const EngineEndpoint& endpoint, const std::string& target,
                  std::chrono::milliseconds timeout, int& status, std::string& body,
                  std::string& error);
};

}  // namespace berth::vm
