#include "server/GuestForwardListeners.h"

#include <future>
#include <mutex>

#include "server/DriverThread.h"
#include "server/net/Log.h"

namespace berth::server {

// Lives while the factory or any of its listeners does; its workers finish every queued call
// before they are joined, so no call outlives it. Tasks hold a plain pointer to it: a task must
// never drop the last reference, or a worker would join itself. A task never posts to the other
// worker, so joining them in either order is safe.
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

  // A spec's calls all run on one worker, in order: the redirecting one's when the spec has a
  // redirect in the guest (an ssh session: seconds on a TCG guest), so a plain forward (one QMP
  // call) never waits behind another's redirect.
  DriverThread& workerFor(const fwd::ForwardSpec& spec) {
    return spec.guest_loopback.empty() ? worker : redirecting;
  }

  vm::PortOpener& opener;
  std::mutex mutex;
  Failed on_failed;
  // Last members: joined first, while the others still exist.
  DriverThread redirecting;
  DriverThread worker;
};

namespace {

class GuestForward : public fwd::Listener {
 public:
  GuestForward(std::shared_ptr<GuestForwardListeners::Shared> shared, fwd::ForwardSpec spec)
      : shared_(std::move(shared)), spec_(std::move(spec)), opened_(std::make_shared<bool>()) {
    auto* shared_raw = shared_.get();
    shared_->workerFor(spec_).post([shared_raw, spec = spec_, opened = opened_] {
      auto& opener = shared_raw->opener;
      std::string error;
      if (!spec.guest_loopback.empty())
        error = opener.redirectToLoopback(spec.guest_port, spec.guestRedirect());
      if (error.empty()) {
        error = opener.openForward(spec.proto, spec.bind_ip, spec.host_port, spec.guest_port);
        if (!error.empty() && !spec.guest_loopback.empty())
          opener.unredirectFromLoopback(spec.guest_port, spec.guestRedirect());
      }
      *opened = error.empty();  // read only by later tasks on the same worker
      if (!error.empty()) shared_raw->failed(spec, error);
    });
  }

  ~GuestForward() override {
    auto* shared_raw = shared_.get();
    shared_->workerFor(spec_).post([shared_raw, spec = spec_, opened = opened_] {
      if (!*opened) return;
      auto& opener = shared_raw->opener;
      std::string error = opener.closeForward(spec.proto, spec.bind_ip, spec.host_port);
      if (!error.empty())
        BERTH_LOG(Warn, "forwarding",
                  "closing " << spec.proto << " " << spec.hostAddress() << ": " << error);
      if (spec.guest_loopback.empty()) return;
      error = opener.unredirectFromLoopback(spec.guest_port, spec.guestRedirect());
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

bool GuestForwardListeners::opensIpv6() const { return shared_->opener.opensIpv6(); }

std::string GuestForwardListeners::refusal(const fwd::ForwardSpec& spec) const {
  if (spec.guest_loopback.empty()) return "";
  if (spec.proto != "tcp") return "a UDP port on the guest's loopback only cannot be reached";
  return shared_->opener.loopbackRefusal(spec.guest_loopback);
}

void GuestForwardListeners::drain() {
  for (auto* worker : {&shared_->worker, &shared_->redirecting}) {
    std::promise<void> done;
    auto future = done.get_future();
    worker->post([&done] { done.set_value(); });
    future.wait();
  }
}

}  // namespace berth::server
