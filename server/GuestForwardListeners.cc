#include "server/GuestForwardListeners.h"

#include <future>
#include <mutex>

#include "server/DriverThread.h"
#include "server/net/Log.h"

namespace berth::server {

// Lives while the factory or any of its listeners does; its worker finishes every queued call
// before it is joined, so no call outlives it. Tasks hold a plain pointer to it: a task must
// never drop the last reference, or the worker would join itself.
struct GuestForwardListeners::Shared {
  explicit Shared(vm::PortOpener& o) : opener(o) {}

  void failed(const fwd::ForwardSpec& spec, const std::string& error) {
    Failed handler;
    {
      std::lock_guard lock(mutex);
      handler = on_failed;
    }
    if (handler) handler(spec, error);
  }

  vm::PortOpener& opener;
  std::mutex mutex;
  Failed on_failed;
  DriverThread worker;  // last member: joined first, while the others still exist
};

namespace {

class GuestForward : public fwd::Listener {
 public:
  GuestForward(std::shared_ptr<GuestForwardListeners::Shared> shared, fwd::ForwardSpec spec)
      : shared_(std::move(shared)), spec_(std::move(spec)), opened_(std::make_shared<bool>()) {
    auto* shared_raw = shared_.get();
    shared_->worker.post([shared_raw, spec = spec_, opened = opened_] {
      const std::string error =
          shared_raw->opener.openForward(spec.proto, spec.bind_ip, spec.host_port, spec.guest_port);
      *opened = error.empty();  // read only by later tasks on the same worker
      if (!error.empty()) shared_raw->failed(spec, error);
    });
  }

  ~GuestForward() override {
    auto* shared_raw = shared_.get();
    shared_->worker.post([shared_raw, spec = spec_, opened = opened_] {
      if (!*opened) return;
      const std::string error =
          shared_raw->opener.closeForward(spec.proto, spec.bind_ip, spec.host_port);
      if (!error.empty())
        BERTH_LOG(Warn, "forwarding",
                  "closing " << spec.proto << " " << spec.hostAddress() << ": " << error);
    });
  }

 private:
  std::shared_ptr<GuestForwardListeners::Shared> shared_;
  fwd::ForwardSpec spec_;
  std::shared_ptr<bool> opened_;
};

}  // namespace

GuestForwardListeners::GuestForwardListeners(vm::PortOpener& opener)
    : shared_(std::make_shared<Shared>(opener)) {}

GuestForwardListeners::~GuestForwardListeners() { drain(); }

std::unique_ptr<fwd::Listener> GuestForwardListeners::open(const fwd::ForwardSpec& spec,
                                                           std::string& /*error*/) {
  return std::make_unique<GuestForward>(shared_, spec);
}

void GuestForwardListeners::setFailureHandler(Failed failed) {
  std::lock_guard lock(shared_->mutex);
  shared_->on_failed = std::move(failed);
}

void GuestForwardListeners::drain() {
  std::promise<void> done;
  auto future = done.get_future();
  shared_->worker.post([&done] { done.set_value(); });
  future.wait();
}

}  // namespace berth::server
