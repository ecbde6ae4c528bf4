#include "forwarding/ListenerSource.h"

#include <algorithm>
#include <tuple>

namespace berth::fwd {

void sortListeners(std::vector<ListeningSocket>& sockets) {
  std::sort(sockets.begin(), sockets.end(), [](const auto& a, const auto& b) {
    return std::tie(a.port, a.protocol, a.address, a.destination) <
           std::tie(b.port, b.protocol, b.address, b.destination);
  });
  sockets.erase(std::unique(sockets.begin(), sockets.end()), sockets.end());
}

}  // namespace berth::fwd
