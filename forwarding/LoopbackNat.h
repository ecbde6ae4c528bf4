#pragma once
// LoopbackNat: the kernel data path of TCP forwards on 127.0.0.1. One nftables table per
// forwarder DNATs this host's connections to 127.0.0.1:P to guest:G and masquerades them out of
// the interface that reaches the guest, so past the first packet no byte crosses berth (dockerd's
// `userland-proxy: false` does the same with iptables). berth's listener on 127.0.0.1:P stays
// bound: it keeps the port ours, so no other process can take it and be hijacked by the rule.
// IPv4 only: ::1 cannot be routed off the host, so [::1]:P stays on the userland relay.
// open() turns on route_localnet for that interface (the kernel otherwise refuses to route a
// 127.0.0.1 source off loopback) and drops 127.0.0.0/8 arriving there, so the guest cannot reach
// the host's loopback services through it; the destructor deletes the table and restores it.
// The table is named after its owner's pid: open() deletes tables of owners that no longer run,
// taking over the route_localnet value a dead owner found (kept in its table's comment).
// Not thread-safe: one thread at a time (KernelPath's worker); every call runs `nft` (~16 ms).
#include <boost/asio/ip/address_v4.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace berth::fwd {

class LoopbackNat {
 public:
  using PortMap = std::map<std::uint16_t, std::uint16_t>;  // host port -> guest port

  // `name` says whose table it is ([a-zA-Z0-9_], e.g. the profile). Null, with the reason in
  // `why_not`, when the kernel path cannot be used here (not root, no nft, no route, ...).
  static std::unique_ptr<LoopbackNat> open(const std::string& name,
                                           const boost::asio::ip::address_v4& guest,
                                           std::string& why_not);
  ~LoopbackNat();
  LoopbackNat(const LoopbackNat&) = delete;
  LoopbackNat& operator=(const LoopbackNat&) = delete;

  // Makes the DNAT map exactly `ports`, in one nft transaction. On failure says why; the map
  // is then unchanged.
  bool sync(const PortMap& ports, std::string& error);
  const std::string& table() const { return table_; }
  const std::string& device() const { return device_; }

  // The nft scripts, exposed for unit tests. `device` is the interface towards `guest`.
  static std::string setupScript(const std::string& table, const std::string& guest,
                                 const std::string& device, const std::string& localnet_before);
  static std::string syncScript(const std::string& table, const PortMap& ports);
  // Tables in `nft list tables` output that belong to `name`'s earlier owners or to any owner
  // whose pid `alive` denies.
  static std::vector<std::string> staleTables(const std::string& list_output,
                                              const std::string& name,
                                              const std::function<bool(long)>& alive);
  // The route_localnet value of `device` that a table (`nft list table` output) recorded, or "".
  static std::string recordedLocalnet(const std::string& table_listing, const std::string& device);

 private:
  LoopbackNat(std::string table, std::string device, std::string localnet_before)
      : table_(std::move(table)),
        device_(std::move(device)),
        localnet_before_(std::move(localnet_before)) {}

  std::string table_;
  std::string device_;
  std::string localnet_before_;  // route_localnet as found ("0"/"1")
};

}  // namespace berth::fwd
