#pragma once
// OpenSSL's thread-local error queue as one readable line, for control-plane messages (TLS
// material, TLS contexts). Empties the queue. Thread-safe (the queue is per thread).
#include <string>

namespace berth::net {

// The oldest queued error in OpenSSL's words, or "unknown OpenSSL error"; clears the queue.
std::string takeOpenSslError();

}  // namespace berth::net
