#pragma once
// BootingConnector: the engine connector of a profile daemon. Each connect first waits on the
// BootGate (booting the guest when it is down), then opens a stream to the guest engine.
// A failed boot answers 503 naming the daemon log; an engine that is restarting (supervision)
// answers 503 saying so. With Boot::Never it boots nothing: a connect while the guest is not
// up (down, booting, stopping) answers 503 at once and never waits on the gate (the
// dashboard's path: an open page must not wake the guest nor hold a stop back).
// Thread-safe: the functions it is given must be thread-safe.
#include <functional>
#include <memory>
#include <string>

#include "server/BootGate.h"
#include "server/net/Connector.h"

namespace berth::server {

class BootingConnector final : public net::Connector {
 public:
  // The connector to the running guest's engine (valid while the gate is up).
  using EngineConnector = std::function<net::ConnectorPtr()>;
  // Why the engine cannot answer right now ("" when it should answer).
  using NotReady = std::function<std::string()>;

  enum class Boot { OnDemand, Never };

  BootingConnector(std::shared_ptr<BootGate> gate, EngineConnector engine, NotReady not_ready,
                   std::string log_file, Boot boot = Boot::OnDemand);
  void connect(boost::asio::any_io_executor executor, net::ConnectHandler handler) override;
  std::string describe() const override;

 private:
  // Opens the stream to the running guest's engine (the gate said it is up).
  void connectEngine(boost::asio::any_io_executor executor, net::ConnectHandler handler);

  std::shared_ptr<BootGate> gate_;
  EngineConnector engine_;
  NotReady not_ready_;
  std::string log_file_;
  Boot boot_;
};

}  // namespace berth::server
