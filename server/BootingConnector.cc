#include "server/BootingConnector.h"

#include <boost/asio/post.hpp>

namespace berth::server {

BootingConnector::BootingConnector(std::shared_ptr<BootGate> gate, EngineConnector engine,
                                   NotReady not_ready, std::string log_file, Boot boot)
    : gate_(std::move(gate)),
      engine_(std::move(engine)),
      not_ready_(std::move(not_ready)),
      log_file_(std::move(log_file)),
      boot_(boot) {}

std::string BootingConnector::describe() const {
  auto engine = engine_();
  return "the profile's guest engine (" +
         (engine ? engine->describe() : "booted on first request") + ")";
}

void BootingConnector::connect(boost::asio::any_io_executor executor, net::ConnectHandler handler) {
  if (boot_ == Boot::Never) {
    // Answered on `executor` like the gate's answers, never from inside connect().
    boost::asio::post(executor, [this, executor, handler = std::move(handler)]() mutable {
      const BootGate::State state = gate_->state();
      if (state == BootGate::State::Up) return connectEngine(executor, std::move(handler));
      net::ConnectError error{503, std::string("the berth guest is ") + BootGate::stateName(state) +
                                       ", not up; this connection does not start it"};
      handler(nullptr, &error);
    });
    return;
  }
  gate_->whenUp(executor, [this, executor,
                           handler = std::move(handler)](const std::string* boot_error) mutable {
    if (boot_error != nullptr) {
      net::ConnectError error{
          503, "the berth guest failed to boot: " + *boot_error + " (see " + log_file_ + ")"};
      handler(nullptr, &error);
      return;
    }
    connectEngine(executor, std::move(handler));
  });
}

void BootingConnector::connectEngine(boost::asio::any_io_executor executor,
                                     net::ConnectHandler handler) {
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
}

}  // namespace berth::server
