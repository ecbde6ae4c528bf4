#include "forwarding/EventWatcher.h"

#include <nlohmann/json.hpp>

#include "server/net/Log.h"

namespace berth::fwd {
namespace {

constexpr std::chrono::milliseconds kFirstRetry{100};
constexpr std::chrono::milliseconds kMaxRetry{2000};

// Percent-encodes a query value (the filters JSON).
std::string urlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

EventWatcher::EventWatcher(net::ConnectorPtr engine, boost::asio::any_io_executor strand,
                           Callbacks callbacks)
    : client_(std::move(engine), strand),
      strand_(strand),
      callbacks_(std::move(callbacks)),
      retry_timer_(strand) {}

std::string EventWatcher::eventsTarget() {
  nlohmann::json filters = {{"type", {"container", "network"}},
                            {"event",
                             {"create", "start", "die", "stop", "kill", "destroy", "restart",
                              "rename", "connect", "disconnect"}}};
  return "/events?filters=" + urlEncode(filters.dump());
}

void EventWatcher::start() { subscribe(); }

void EventWatcher::stop() {
  stopped_ = true;
  retry_timer_.cancel();
  if (events_) events_->cancel();
  events_.reset();
}

void EventWatcher::subscribe() {
  if (stopped_) return;
  auto self = shared_from_this();
  stream_opened_ = false;
  events_ = client_.stream(
      eventsTarget(),
      [self] {
        // Subscribed first, listed second: no event between the two can be missed.
        BERTH_LOG(Info, "forwarding",
                  "watching events of " << self->client_.connector().describe());
        self->stream_opened_ = true;
        self->stopped_ids_.clear();  // events missed while away: the list alone is the truth
        self->engine_lost_reported_ = false;
        if (self->callbacks_.on_connection) self->callbacks_.on_connection(true);
        self->requestList();
      },
      [self](std::string_view line) { self->onEvent(line); },
      [self](const std::string& reason) { self->onStreamEnd(reason); });
}

namespace {

// The signals a `kill` event carries when the container is being stopped (docker stop sends
// TERM, then KILL; docker kill defaults to KILL). Others (HUP, USR1, ...) leave it running.
bool endsContainer(const nlohmann::json& actor) {
  auto attributes = actor.find("Attributes");
  if (attributes == actor.end() || !attributes->is_object()) return false;
  const std::string signal = attributes->value("signal", std::string());
  return signal == "9" || signal == "15" || signal == "SIGKILL" || signal == "SIGTERM" ||
         signal == "KILL" || signal == "TERM";
}

}  // namespace

void EventWatcher::onEvent(std::string_view line) {
  auto event = nlohmann::json::parse(line, nullptr, false);
  if (!event.is_object()) return;
  const std::string action = event.value("Action", std::string());
  const std::string type = event.value("Type", std::string());
  BERTH_LOG(Debug, "forwarding", "event " << type << " " << action);
  if (type == "container") {
    std::string id;
    auto actor = event.find("Actor");
    if (actor != event.end() && actor->is_object()) id = actor->value("ID", std::string());
    if (!id.empty() && (action == "die" || action == "destroy")) {
      // The engine still lists a container as running for a moment after `die`: until it
      // starts again, its ports are not wanted whatever a list says.
      stopped_ids_.insert(id);
      if (callbacks_.on_container_gone) callbacks_.on_container_gone(id);
    } else if (!id.empty() && action == "start") {
      stopped_ids_.erase(id);
      if (callbacks_.on_container_started) callbacks_.on_container_started(id);
    } else if (!id.empty() && action == "kill" && endsContainer(*actor)) {
      if (callbacks_.on_container_stopping) callbacks_.on_container_stopping(id);
    }
  }
  requestList();
}

void EventWatcher::onStreamEnd(const std::string& reason) {
  events_.reset();
  if (stopped_) return;
  if (callbacks_.on_connection) callbacks_.on_connection(false);
  // A stream that broke after it was live is retried at once; a failed connect backs off.
  if (!stream_opened_ && !engine_lost_reported_) {
    engine_lost_reported_ = true;
    if (callbacks_.on_engine_lost) callbacks_.on_engine_lost(reason);
  }
  backoff_ = stream_opened_ ? kFirstRetry : std::min(backoff_ * 2, kMaxRetry);
  BERTH_LOG(Warn, "forwarding",
            "event stream ended (" << reason << "); reconnecting in " << backoff_.count() << " ms");
  retry_timer_.expires_after(backoff_);
  retry_timer_.async_wait([self = shared_from_this()](net::ErrorCode ec) {
    if (!ec) self->subscribe();
  });
}

void EventWatcher::requestList() {
  if (stopped_) return;
  if (listing_) {
    list_dirty_ = true;
    return;
  }
  listing_ = true;
  list_dirty_ = false;
  client_.get("/containers/json", [self = shared_from_this()](const std::string& error, int status,
                                                              const std::string& body) {
    self->listing_ = false;
    if (self->stopped_) return;
    if (self->list_dirty_) return self->requestList();  // newer events: this answer is stale
    if (!error.empty() || status != 200) {
      BERTH_LOG(Warn, "forwarding",
                "listing containers failed: " << (error.empty() ? "status " + std::to_string(status)
                                                                : error));
      return;  // the event stream breaks too if the engine is gone; its reconnect lists again
    }
    auto list = nlohmann::json::parse(body, nullptr, false);
    if (!list.is_array()) {
      BERTH_LOG(Warn, "forwarding", "listing containers: not a JSON array");
      return;
    }
    auto ports = api::publishedPortsFromList(list);
    const bool wants_containers = static_cast<bool>(self->callbacks_.on_containers);
    std::set<std::string> listed;
    for (const auto& port : ports) listed.insert(port.container_id);
    std::erase_if(ports, [&](const api::PublishedPort& port) {
      return self->stopped_ids_.count(port.container_id) > 0;
    });
    nlohmann::json containers = nlohmann::json::array();
    if (wants_containers) {
      for (auto& c : list)
        if (c.is_object() && !self->stopped_ids_.count(c.value("Id", std::string())))
          containers.push_back(std::move(c));
    }
    // A stopped container the engine no longer lists as running needs no more masking.
    std::erase_if(self->stopped_ids_, [&](const std::string& id) { return !listed.count(id); });
    if (wants_containers) self->callbacks_.on_containers(containers);
    if (self->callbacks_.on_ports) self->callbacks_.on_ports(std::move(ports));
  });
}

}  // namespace berth::fwd
