#pragma once
// RelayTuning: berth.yaml's `relay:` section (the profile daemon's API relay), and the one place
// its defaults are defined: server::RelayLimits and `berth daemon`'s flags start from the same
// constants (the spin from net::kDefaultSpin, the foundation's). Value type.
#include <string>

#include "server/net/IoLoop.h"

namespace berth::vm {

struct RelayTuning {
  static constexpr int kDefaultMaxConnections = 1000;
  static constexpr int kDefaultHeadTimeoutSeconds = 300;

  // The I/O thread polls this long after work before sleeping; 0: never.
  int spin_micros = static_cast<int>(net::kDefaultSpin.count());
  int max_connections = kDefaultMaxConnections;  // client connections at once; more get a 503
  // A client must send a request head within this (a duration, as berth.yaml spells it).
  std::string head_timeout = std::to_string(kDefaultHeadTimeoutSeconds) + "s";
};

}  // namespace berth::vm
