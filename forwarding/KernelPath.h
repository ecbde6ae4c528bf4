#pragma once
// KernelPath: drives one LoopbackNat (the kernel DNAT for 127.0.0.1) for the forwarder without
// blocking its strand. An nft commit takes ~16 ms here (the kernel waits out an RCU grace period
// per transaction), and the profile daemon's strand is also its API relay's only I/O thread, so
// every nft call runs on a worker thread of this class, in the order asked (open, updates, close:
// a close always finishes before the next open starts). Updates are coalesced: only the latest
// wanted map is sent. Results come back on the strand, then `on_change` runs there.
// Use from the strand only; the destructor waits for the worker's queue (the table is deleted).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <string>

#include "forwarding/LoopbackNat.h"

namespace berth::fwd {

class KernelPath : public std::enable_shared_from_this<KernelPath> {
 public:
  static std::shared_ptr<KernelPath> create(boost::asio::any_io_executor strand,
                                            std::function<void()> on_change);
  ~KernelPath();
  KernelPath(const KernelPath&) = delete;
  KernelPath& operator=(const KernelPath&) = delete;

  // Makes the table `name` DNATing to `guest` (LoopbackNat::open), replacing an open one.
  void open(const std::string& name, const boost::asio::ip::address_v4& guest);
  // Deletes the table; every port is relayed again. `why` goes in the state ("off: <why>").
  void close(const std::string& why = {});
  // The ports the kernel should carry (host port -> guest port).
  void want(LoopbackNat::PortMap ports);

  // What the kernel maps now (updates completed), and a line for the status: "off",
  // "off: <why>", "opening ...", or "kernel DNAT (nftables table T via DEV)".
  const LoopbackNat::PortMap& mapped() const { return mapped_; }
  const std::string& state() const { return state_; }

 private:
  struct Worker;  // what only the worker thread touches
  KernelPath(boost::asio::any_io_executor strand, std::function<void()> on_change);
  void sendWanted();
  void onOpened(unsigned generation, bool ok, const std::string& state);
  void onSynced(unsigned generation, const LoopbackNat::PortMap& ports, bool ok,
                const std::string& error);

  boost::asio::any_io_executor strand_;
  std::function<void()> on_change_;
  boost::asio::thread_pool pool_{1};
  std::shared_ptr<Worker> worker_;
  unsigned generation_ = 0;  // bumped by open() and close(): older results are stale
  bool active_ = false;      // the table of this generation is open
  bool in_flight_ = false;   // an update is on the worker
  LoopbackNat::PortMap wanted_;
  LoopbackNat::PortMap mapped_;
  std::string state_ = "off";
};

}  // namespace berth::fwd
