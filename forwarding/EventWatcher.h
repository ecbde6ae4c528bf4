#pragma once
// EventWatcher: keeps forwarding in step with the engine without polling (DESIGN.md "Port
// forwarding"). It subscribes to `/events` (container start/die/stop/kill/destroy/restart,
// create (wake containers), network connect/disconnect), then lists running containers; every
// relevant event triggers a fresh list, and a list answered while newer events arrived is dropped
// for a newer one, so the reported set is exact after every event; a container that died is left
// out until it starts again (the engine lists it as running for a moment after `die`). A broken
// stream is reopened with back-off (100 ms doubling to 2 s) and followed by a full list. Runs on
// one strand; not thread-safe.
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "api/PublishedPorts.h"
#include "forwarding/EngineClient.h"

namespace berth::fwd {

class EventWatcher : public std::enable_shared_from_this<EventWatcher> {
 public:
  struct Callbacks {
    // The full set of published ports of running containers, after the connect and after
    // every relevant event.
    std::function<void(std::vector<api::PublishedPort>)> on_ports;
    // The same moments, the running containers as `/containers/json` lists them (those that
    // died since their last start left out), for watchers that need more than ports. Optional.
    std::function<void(const nlohmann::json& containers)> on_containers;
    // A container stopped (die/destroy): its forwards may close before the next list lands.
    std::function<void(const std::string& container_id)> on_container_gone;
    // A container was sent SIGTERM or SIGKILL (`kill`): it is about to stop, or may already
    // be gone while its `die` is still on the way.
    std::function<void(const std::string& container_id)> on_container_stopping;
    // A container started (again).
    std::function<void(const std::string& container_id)> on_container_started;
    // The engine could not be reached at all (not a mere stream break): nothing is known.
    std::function<void(const std::string& reason)> on_engine_lost;
    std::function<void(bool connected)> on_connection;
  };

  EventWatcher(net::ConnectorPtr engine, boost::asio::any_io_executor strand, Callbacks callbacks);
  void start();
  void stop();

  // The `/events` target with its filters (exposed for tests).
  static std::string eventsTarget();

 private:
  void subscribe();
  void onEvent(std::string_view line);
  void onStreamEnd(const std::string& reason);
  void requestList();

  EngineClient client_;
  boost::asio::any_io_executor strand_;
  Callbacks callbacks_;
  boost::asio::steady_timer retry_timer_;
  std::shared_ptr<EngineClient::Stream> events_;
  std::chrono::milliseconds backoff_{50};  // doubled before the first retry
  bool stream_opened_ = false;
  bool stopped_ = false;
  bool listing_ = false;
  bool list_dirty_ = false;
  bool engine_lost_reported_ = false;
  std::set<std::string> stopped_ids_;  // died since their last start
};

}  // namespace berth::fwd
