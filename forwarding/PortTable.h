#pragma once
// PortTable: the host listeners forwarding has open, kept equal to the wanted set. reconcile()
// closes every listener no longer wanted (or now wanted for another container) before opening
// the missing ones, so a port handed from one container to the next is free to bind. A listener
// that cannot open (port taken on the host) is recorded as a conflict with the container that
// wanted it and retried on every later reconcile (logged once, not at every retry, also when the
// factory reports it late through fail()). Control strand only; not thread-safe.
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "forwarding/ForwardSpec.h"
#include "forwarding/Listener.h"

namespace berth::fwd {

class PortTable {
 public:
  struct Conflict {
    ForwardSpec spec;
    std::string error;
    friend bool operator==(const Conflict&, const Conflict&) = default;
  };
  struct Change {
    std::size_t opened = 0;
    std::size_t closed = 0;
    std::size_t conflicts = 0;  // conflicts that are new, or 1 when some are gone
  };

  explicit PortTable(ListenerFactory& factory) : factory_(factory) {}

  Change reconcile(const std::vector<ForwardSpec>& wanted);
  // Closes every listener of one container now (its `die` event), before the next list.
  std::size_t closeContainer(const std::string& container_id);
  std::size_t closeAll();
  // A listener of `spec` that failed after it was opened (ListenerFactory::Failed) becomes a
  // conflict; false when `spec` is no longer open (closed or replaced meanwhile).
  bool fail(const ForwardSpec& spec, const std::string& error);

  std::vector<ForwardSpec> active() const;
  bool isOpen(const std::tuple<std::string, std::string, std::uint16_t>& key) const {
    return open_.count(key) > 0;
  }
  const std::vector<Conflict>& conflicts() const { return conflicts_; }

 private:
  using Key = std::tuple<std::string, std::string, std::uint16_t>;
  struct Entry {
    ForwardSpec spec;
    std::unique_ptr<Listener> listener;
  };

  ListenerFactory& factory_;
  std::map<Key, Entry> open_;
  std::vector<Conflict> conflicts_;
  // The last late failure (fail()) of each wanted key: logged once, not at every retry.
  std::map<Key, Conflict> failed_;
};

}  // namespace berth::fwd
