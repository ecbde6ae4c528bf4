#include "forwarding/IndirectTcpForward.h"

#include <boost/asio/ip/address.hpp>

#include "forwarding/TcpForward.h"
#include "forwarding/WakeGate.h"

namespace berth::fwd {

std::unique_ptr<IndirectTcpForward> IndirectTcpForward::open(
    boost::asio::any_io_executor control, boost::asio::any_io_executor io, const ForwardSpec& spec,
    std::uint16_t via, ListenerFactory& driver, std::shared_ptr<WakeGate> gate,
    std::string& error) {
  net::ErrorCode ec;
  const auto bind_ip = boost::asio::ip::make_address(spec.bind_ip, ec);
  if (ec) {
    error = "not an IP address: " + spec.bind_ip;
    return nullptr;
  }
  const auto loopback = boost::asio::ip::address_v4::loopback();
  auto host = TcpForward::open(std::move(control), std::move(io), {bind_ip, spec.host_port},
                               {loopback, via}, nullptr, std::move(gate), error, kSettle);
  if (!host) return nullptr;
  ForwardSpec driver_spec = spec;
  driver_spec.bind_ip = loopback.to_string();
  driver_spec.host_port = via;
  std::unique_ptr<IndirectTcpForward> forward(
      new IndirectTcpForward(std::move(driver_spec), std::move(host)));
  error = forward->reopenDriverForward(driver);
  if (!error.empty()) return nullptr;
  return forward;
}

IndirectTcpForward::IndirectTcpForward(ForwardSpec driver_spec, std::unique_ptr<TcpForward> host)
    : driver_spec_(std::move(driver_spec)), host_(std::move(host)) {}

// The host listener closes first: no connection is relayed to a forward being closed.
IndirectTcpForward::~IndirectTcpForward() { host_.reset(); }

void IndirectTcpForward::dropDriverForward() { driver_forward_.reset(); }

std::string IndirectTcpForward::reopenDriverForward(ListenerFactory& driver) {
  if (driver_forward_) return "";
  std::string error;
  driver_forward_ = driver.open(driver_spec_, error);
  if (!driver_forward_ && error.empty()) error = "the driver opened no forward";
  return driver_forward_ ? "" : error;
}

}  // namespace berth::fwd
