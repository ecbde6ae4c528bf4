#pragma once
// ExternalDriver: the guest is an engine that already runs and that berth does not own
// (`berth daemon --socket S --upstream unix:///E`). start() and stop() change nothing but the
// reported state: the daemon in front of it is the same ProfileDaemon as for a profile, so
// relay, filters, TLS listeners and forwarding are wired once. Published ports are relayed to
// `guest_address` when one is given. Thread-safety as Driver's; status() is safe from any thread.
#include <atomic>

#include "vm/Driver.h"

namespace berth::vm {

struct ExternalEngine {
  std::string unix_path;      // the engine's socket
  std::string guest_address;  // where its published ports are reachable ("": not forwarded)
  std::string guest_netns;    // its network namespace file, for guest-loopback ports ("": none)
  std::vector<Share> shares;  // bind mounts translated to these ("": none)
};

class ExternalDriver final : public Driver {
 public:
  explicit ExternalDriver(ExternalEngine engine) : engine_(std::move(engine)) {}

  std::string name() const override { return "external"; }
  void start(const ProgressSink& progress) override;
  void stop(bool force) override;
  GuestStatus status() const override;
  EngineEndpoint engine() const override;
  std::string guestEngineSocket() const override { return engine_.unix_path; }
  std::string guestAddress() const override { return engine_.guest_address; }
  std::string guestNetworkNamespace() const override { return engine_.guest_netns; }
  std::vector<Share> shares() const override { return engine_.shares; }
  std::vector<std::string> shellArgv(const std::vector<std::string>& command,
                                     bool tty) const override;

 private:
  const ExternalEngine engine_;
  std::atomic<bool> started_{false};
};

}  // namespace berth::vm
