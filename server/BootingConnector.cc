#include "server/BootingConnector.h"

namespace berth::server {

BootingConnector::BootingConnector(std::shared_ptr<BootGate> gate, EngineConnector engine,
                                   NotReady not_ready, std::string log_file)
    : gate_(std::move(gate)),
      engine_(std::move(engine)),
      not_ready_(std::move(not_ready)),
      log_file_(std::move(log_file)) {}

std::string BootingConnector::describe() const {
  auto engine = engine_();
  return "the profile's guest engine (" +
         (engine ? engine->describe() : "booted on first request") + ")";
}

void BootingConnector::connect(boost::asio::any_io_executor executor, net::ConnectHandler handler) {
  gate_->whenUp(executor, [this, executor,
                           handler = std::move(handler)](const std::string* boot_error) mutable {
    if (boot_error != nullptr) {
      net::ConnectError error{
          503, "the berth guest failed to boot: " + *boot_error + " (see " + log_file_ + ")"};
      handler(nullptr, &error);
      return;
    }
    auto engine = engine_();
    if (!engine) {
      net::ConnectError error{503, "the berth guest is not running (see " + log_file_ + ")"};
      handler(nullptr, &error);
      return;
    }
    engine->connect(executor, [this, handler = std::move(handler)](net::ByteStreamPtr stream,
                                                                   const net::ConnectError* error) {
      if (error == nullptr) {
        handler(std::move(stream), nullptr);
        return;
      }
      const std::string why = not_ready_();
      if (why.empty()) {
        handler(nullptr, error);
        return;
      }
      net::ConnectError not_ready{503, "the Docker engine in the berth guest is not ready: " + why +
                                           "; retry in a moment (see " + log_file_ + ")"};
      handler(nullptr, &not_ready);
    });
  });
}

}  // namespace berth::server
