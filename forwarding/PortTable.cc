#include "forwarding/PortTable.h"

#include <algorithm>

#include "server/net/Log.h"

namespace berth::fwd {
namespace {

void logClose(const ForwardSpec& spec, const char* why) {
  BERTH_LOG(
      Info, "forwarding",
      "close " << spec.proto << " " << spec.hostAddress() << " (" << spec.owner() << why << ")");
}

}  // namespace

PortTable::Change PortTable::reconcile(const std::vector<ForwardSpec>& wanted) {
  Change change;
  std::map<Key, const ForwardSpec*> wanted_by_key;
  for (const auto& spec : wanted) wanted_by_key.emplace(spec.key(), &spec);

  for (auto it = open_.begin(); it != open_.end();) {
    auto want = wanted_by_key.find(it->first);
    if (want != wanted_by_key.end() && *want->second == it->second.spec) {
      ++it;
      continue;
    }
    logClose(it->second.spec, "");
    it = open_.erase(it);
    ++change.closed;
  }

  std::erase_if(failed_, [&](const auto& entry) { return !wanted_by_key.count(entry.first); });
  const std::vector<Conflict> previous = std::move(conflicts_);
  conflicts_.clear();
  for (const auto& [key, spec] : wanted_by_key) {
    if (open_.count(key)) continue;
    std::string error;
    auto listener = factory_.open(*spec, error);
    if (!listener) {
      Conflict conflict{*spec, error};
      if (std::find(previous.begin(), previous.end(), conflict) == previous.end()) {
        BERTH_LOG(Warn, "forwarding",
                  "cannot open " << spec->proto << " " << spec->hostAddress() << " for "
                                 << spec->owner() << ": " << error);
        ++change.conflicts;
      }
      conflicts_.push_back(std::move(conflict));
      continue;
    }
    BERTH_LOG(Info, "forwarding",
              "open " << spec->proto << " " << spec->hostAddress() << " -> guest port "
                      << spec->guest_port << " (" << spec->owner() << ")");
    open_.emplace(key, Entry{*spec, std::move(listener)});
    ++change.opened;
  }
  if (change.conflicts == 0 && conflicts_.size() != previous.size()) change.conflicts = 1;
  return change;
}

std::size_t PortTable::closeContainer(const std::string& container_id) {
  std::size_t closed = 0;
  for (auto it = open_.begin(); it != open_.end();) {
    if (it->second.spec.container_id != container_id) {
      ++it;
      continue;
    }
    logClose(it->second.spec, " stopped");
    it = open_.erase(it);
    ++closed;
  }
  std::erase_if(conflicts_, [&](const Conflict& c) { return c.spec.container_id == container_id; });
  return closed;
}

std::size_t PortTable::closeAll() {
  std::size_t closed = open_.size();
  open_.clear();
  conflicts_.clear();
  failed_.clear();
  return closed;
}

bool PortTable::fail(const ForwardSpec& spec, const std::string& error) {
  auto it = open_.find(spec.key());
  if (it == open_.end() || !(it->second.spec == spec)) return false;
  Conflict conflict{spec, error};
  // A late failure comes back at every retry (the open itself returns at once): logged once.
  auto& last = failed_[spec.key()];
  if (!(last == conflict)) {
    BERTH_LOG(Warn, "forwarding",
              "cannot open " << spec.proto << " " << spec.hostAddress() << " for " << spec.owner()
                             << ": " << error);
    last = conflict;
  }
  open_.erase(it);
  conflicts_.push_back(std::move(conflict));
  return true;
}

std::vector<ForwardSpec> PortTable::active() const {
  std::vector<ForwardSpec> out;
  out.reserve(open_.size());
  for (const auto& [key, entry] : open_) out.push_back(entry.spec);
  return out;
}

}  // namespace berth::fwd
