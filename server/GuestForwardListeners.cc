#include "server/GuestForwardListeners.h"

#include "server/net/Log.h"

namespace berth::server {
namespace {

class GuestForward : public fwd::Listener {
 public:
  GuestForward(vm::GuestPortForwarder& driver, fwd::ForwardSpec spec)
      : driver_(driver), spec_(std::move(spec)) {}
  ~GuestForward() override {
    std::string error = driver_.closeForward(spec_.proto, spec_.bind_ip, spec_.host_port);
    if (!error.empty())
      BERTH_LOG(Warn, "forwarding",
                "closing " << spec_.proto << " " << spec_.hostAddress() << ": " << error);
  }

 private:
  vm::GuestPortForwarder& driver_;
  fwd::ForwardSpec spec_;
};

}  // namespace

std::unique_ptr<fwd::Listener> GuestForwardListeners::open(const fwd::ForwardSpec& spec,
                                                           std::string& error) {
  error = driver_.openForward(spec.proto, spec.bind_ip, spec.host_port, spec.guest_port);
  if (!error.empty()) return nullptr;
  return std::make_unique<GuestForward>(driver_, spec);
}

}  // namespace berth::server
