#include "forwarding/KernelPath.h"

#include <boost/asio/post.hpp>

#include "server/net/Log.h"

namespace berth::fwd {

struct KernelPath::Worker {
  std::unique_ptr<LoopbackNat> nat;
};

std::shared_ptr<KernelPath> KernelPath::create(boost::asio::any_io_executor strand,
                                               std::function<void()> on_change) {
  return std::shared_ptr<KernelPath>(new KernelPath(std::move(strand), std::move(on_change)));
}

KernelPath::KernelPath(boost::asio::any_io_executor strand, std::function<void()> on_change)
    : strand_(std::move(strand)),
      on_change_(std::move(on_change)),
      worker_(std::make_shared<Worker>()) {}

KernelPath::~KernelPath() {
  close();
  pool_.join();  // runs the queue out: the close above deletes the table
}

void KernelPath::open(const std::string& name, const boost::asio::ip::address_v4& guest) {
  const unsigned generation = ++generation_;
  active_ = false;
  mapped_.clear();
  state_ = "opening the nftables table";
  std::weak_ptr<KernelPath> weak = shared_from_this();
  boost::asio::post(pool_, [worker = worker_, name, guest, generation, weak, strand = strand_] {
    worker->nat.reset();
    std::string why_not;
    worker->nat = LoopbackNat::open(name, guest, why_not);
    const bool ok = worker->nat != nullptr;
    const std::string state = ok ? "kernel DNAT (nftables table " + worker->nat->table() + " via " +
                                       worker->nat->device() + ")"
                                 : "off: " + why_not;
    boost::asio::post(strand, [weak, generation, ok, state] {
      if (auto self = weak.lock()) self->onOpened(generation, ok, state);
    });
  });
}

void KernelPath::close(const std::string& why) {
  ++generation_;
  active_ = false;
  wanted_.clear();
  mapped_.clear();
  state_ = why.empty() ? "off" : "off: " + why;
  boost::asio::post(pool_, [worker = worker_] { worker->nat.reset(); });
}

void KernelPath::want(LoopbackNat::PortMap ports) {
  if (ports == wanted_) return;
  wanted_ = std::move(ports);
  if (active_ && !in_flight_) sendWanted();
}

void KernelPath::sendWanted() {
  in_flight_ = true;
  std::weak_ptr<KernelPath> weak = shared_from_this();
  boost::asio::post(
      pool_, [worker = worker_, ports = wanted_, generation = generation_, weak, strand = strand_] {
        bool ok = false;
        std::string error = "the table is closed";
        if (worker->nat) ok = worker->nat->sync(ports, error);
        // A map we cannot update could keep sending a closed port to the guest, away from a
        // program that binds it next: drop the table; the listeners relay every port from now.
        if (!ok) worker->nat.reset();
        boost::asio::post(strand, [weak, generation, ports, ok, error] {
          if (auto self = weak.lock()) self->onSynced(generation, ports, ok, error);
        });
      });
}

void KernelPath::onOpened(unsigned generation, bool ok, const std::string& state) {
  if (generation != generation_) return;
  state_ = state;
  if (!ok) {
    BERTH_LOG(Warn, "forwarding", "127.0.0.1 forwards are relayed, not in the kernel: " << state);
    on_change_();
    return;
  }
  active_ = true;
  if (!wanted_.empty() && !in_flight_) sendWanted();
  on_change_();
}

void KernelPath::onSynced(unsigned generation, const LoopbackNat::PortMap& ports, bool ok,
                          const std::string& error) {
  in_flight_ = false;
  if (generation != generation_) {
    if (active_ && wanted_ != mapped_) sendWanted();  // a newer table is waiting for its map
    return;
  }
  if (!ok) {
    BERTH_LOG(Warn, "forwarding",
              "updating the kernel DNAT map: " << error << "; relaying every port instead");
    active_ = false;
    mapped_.clear();
    state_ = "off: " + error;
    on_change_();
    return;
  }
  mapped_ = ports;
  if (wanted_ != mapped_) sendWanted();
  on_change_();
}

}  // namespace berth::fwd
