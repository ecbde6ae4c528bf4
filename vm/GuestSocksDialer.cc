#include "vm/GuestSocksDialer.h"

#include <thread>

#include "server/net/SocksConnector.h"

namespace berth::vm {

GuestSocksDialer::GuestSocksDialer(std::string socket, std::string log, SshArgv ssh,
                                   std::chrono::milliseconds timeout)
    : log_(log),
      ssh_(std::move(ssh)),
      timeout_(timeout),
      forward_(std::move(socket), "", std::move(log)) {}

void GuestSocksDialer::ready() {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (!forward_.ensure(ssh_())) {
    if (std::chrono::steady_clock::now() >= deadline) {
      forward_.stop();
      throw DriverError("the ssh forward to the guest's addresses did not come up within " +
                        std::to_string(timeout_.count() / 1000) + " s (see " + log_ + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

net::ConnectorPtr GuestSocksDialer::connector(const boost::asio::ip::tcp::endpoint& target,
                                              const std::string& description) const {
  return std::make_shared<net::SocksConnector>(forward_.local(), target, description);
}

}  // namespace berth::vm
