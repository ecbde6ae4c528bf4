#include "forwarding/WakeController.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "forwarding/EngineClient.h"
#include "forwarding/GuestNetns.h"
#include "forwarding/ProcNetUdp.h"
#include "server/net/Log.h"

namespace berth::fwd {
namespace {

using Clock = std::chrono::steady_clock;
using boost::asio::ip::tcp;

// A refused connect (the container's port is not listening yet) comes back at once: try again
// soon, a little less often after the first second.
constexpr std::chrono::milliseconds kProbeFast{10};
constexpr std::chrono::milliseconds kProbeSlow{50};
constexpr std::chrono::seconds kProbeFastFor{1};
// Target::settle: connects in a row that must stay open (QEMU's late closes are rare, two in a
// row rarer still).
constexpr int kSettledInARow = 2;

long long millisSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// The engine's own words from an error reply ({"message": ...}), else the status.
std::string engineError(int status, const std::string& body) {
  auto reply = nlohmann::json::parse(body, nullptr, false);
  if (reply.is_object() && reply.contains("message") && reply["message"].is_string())
    return reply["message"].get<std::string>() + " (" + std::to_string(status) + ")";
  return "status " + std::to_string(status);
}

// State.Pid of an inspect reply; 0 when it has none (not running, or not such a reply).
int statePid(const std::string& body) {
  const auto reply = nlohmann::json::parse(body, nullptr, false);
  if (!reply.is_object()) return 0;
  const auto state = reply.find("State");
  if (state == reply.end() || !state->is_object()) return 0;
  const auto pid = state->find("Pid");
  return pid != state->end() && pid->is_number_integer() ? pid->get<int>() : 0;
}

class Controller final : public WakeController, public std::enable_shared_from_this<Controller> {
 public:
  Controller(boost::asio::any_io_executor strand, EngineSource engine)
      : strand_(strand), engine_(std::move(engine)) {}

  void wake(Target target, Done done) override {
    boost::asio::post(strand_, [self = shared_from_this(), target = std::move(target),
                                done = std::move(done)]() mutable {
      self->begin(std::move(target), std::move(done));
    });
  }

  void stopContainer(const std::string& container, Done done) override {
    boost::asio::post(strand_, [self = shared_from_this(), container, done = std::move(done)] {
      self->engineCall("/containers/" + container + "/stop", done);
    });
  }

  void stop() override {
    boost::asio::dispatch(strand_, [self = shared_from_this()] {
      self->stopped_ = true;
      auto wakes = self->wakes_;
      for (auto& [key, wake] : wakes) self->finish(wake, "forwarding stopped");
    });
  }

 private:
  struct Wake {
    explicit Wake(boost::asio::any_io_executor strand)
        : deadline(strand), retry(strand), settle(strand), socket(strand) {}
    std::string key;
    Target target;
    std::vector<Done> waiters;
    boost::asio::steady_timer deadline;
    boost::asio::steady_timer retry;
    boost::asio::steady_timer settle;  // Target::settle after a connect
    char peek = 0;                     // a byte the far end sent first
    int settled = 0;                   // connects in a row that stayed open for settle
    tcp::socket socket;
    Clock::time_point began = Clock::now();
    bool started = false;  // the engine accepted the start
    int pid = 0;           // UDP: the container's process (State.Pid)
    bool finished = false;
  };

  void begin(Target target, Done done) {
    if (stopped_) return done("forwarding stopped");
    const std::string key = target.container + " " + target.probe.address().to_string() + " " +
                            std::to_string(target.probe.port()) + " udp " +
                            std::to_string(target.udp_port);
    if (auto it = wakes_.find(key); it != wakes_.end()) {
      it->second->waiters.push_back(std::move(done));
      return;
    }
    auto wake = std::make_shared<Wake>(strand_);
    wake->key = key;
    wake->target = std::move(target);
    wake->waiters.push_back(std::move(done));
    wakes_.emplace(key, wake);
    BERTH_LOG(Info, "wake",
              "waking " << label(wake->target) << " (starting it, then waiting up to "
                        << wake->target.timeout.count() << " ms for "
                        << port(wake->target, " to be bound", " to accept") << ")");
    std::weak_ptr<Wake> weak = wake;
    wake->deadline.expires_after(wake->target.timeout);
    wake->deadline.async_wait([self = shared_from_this(), weak](net::ErrorCode ec) {
      auto w = weak.lock();
      if (ec || !w || w->finished) return;
      const auto waited = std::to_string(w->target.timeout.count()) + " ms (berth.wake.timeout)";
      self->finish(
          w, w->started ? port(w->target, " was not bound", " did not accept") + " within " + waited
                        : "the engine did not start it within " + waited);
    });
    engineCall("/containers/" + wake->target.container + "/start",
               [self = shared_from_this(), weak](const std::string& error) {
                 auto w = weak.lock();
                 if (!w || w->finished) return;
                 if (!error.empty())
                   return self->finish(w, "the engine did not start it: " + error);
                 w->started = true;
                 BERTH_LOG(Debug, "wake",
                           label(w->target) << " started after " << millisSince(w->began) << " ms");
                 if (w->target.udp_port != 0) return self->inspect(w);
                 if (w->target.probe.port() == 0) return self->finish(w, "");
                 self->probe(w);
               });
  }

  static std::string label(const Target& target) {
    return target.name.empty() ? target.container : target.name;
  }

  // The port a wake waits for after the start, for log lines: "udp port 53" + `udp` (bound in
  // the container), else "port 8080" + `connect` (accepts a connect).
  static std::string port(const Target& target, const char* udp, const char* connect) {
    if (target.udp_port != 0) return "udp port " + std::to_string(target.udp_port) + udp;
    return "port " + std::to_string(target.probe.port()) + connect;
  }

  // The retry pause of a port not ready yet: soon, a little less often after the first second.
  void retryLater(const std::shared_ptr<Wake>& wake,
                  void (Controller::*again)(const std::shared_ptr<Wake>&)) {
    std::weak_ptr<Wake> weak = wake;
    wake->retry.expires_after(Clock::now() - wake->began < kProbeFastFor ? kProbeFast : kProbeSlow);
    wake->retry.async_wait([self = shared_from_this(), weak, again](net::ErrorCode ec) {
      auto w = weak.lock();
      if (!ec && w && !w->finished) ((*self).*again)(w);
    });
  }

  // UDP: the container's process as the engine reports it (State.Pid), whose network namespace
  // shows the container's sockets.
  void inspect(const std::shared_ptr<Wake>& wake) {
    std::weak_ptr<Wake> weak = wake;
    engineRequest("GET", "/containers/" + wake->target.container + "/json",
                  [self = shared_from_this(), weak](const std::string& error, int status,
                                                    const std::string& body) {
                    auto w = weak.lock();
                    if (!w || w->finished) return;
                    if (!error.empty()) return self->finish(w, "cannot inspect it: " + error);
                    if (status != 200) return self->finish(w, engineError(status, body));
                    const int pid = statePid(body);
                    if (pid <= 0) return self->finish(w, "it is not running after its start");
                    w->pid = pid;
                    self->awaitBound(w);
                  });
  }

  // Reads the container's UDP tables until its port is bound. /proc/PID/net is in memory and
  // small (one container's sockets), so the read on the strand is brief.
  void awaitBound(const std::shared_ptr<Wake>& wake) {
    const auto bound = ProcNetUdp::boundIn(wake->pid, wake->target.udp_port);
    if (!bound) {
      BERTH_LOG(Warn, "wake",
                label(wake->target) << ": /proc/" << wake->pid
                                    << "/net/udp is not readable here (another PID namespace?): "
                                       "its datagrams go on after the start alone");
      return finish(wake, "");
    }
    if (*bound) return finish(wake, "");
    retryLater(wake, &Controller::awaitBound);
  }

  void probe(const std::shared_ptr<Wake>& wake) {
    net::ErrorCode ec;
    if (wake->socket.is_open()) wake->socket.close(ec);
    openSocket(wake->target.netns.get(), wake->socket, wake->target.probe.protocol(), ec);
    if (ec)
      return finish(wake, "cannot probe port " + std::to_string(wake->target.probe.port()) + ": " +
                              ec.message());
    std::weak_ptr<Wake> weak = wake;
    wake->socket.async_connect(wake->target.probe,
                               [self = shared_from_this(), weak](net::ErrorCode connect_ec) {
                                 auto w = weak.lock();
                                 if (!w || w->finished) return;
                                 if (connect_ec) return self->retryLater(w, &Controller::probe);
                                 if (w->target.settle.count() == 0) return self->finish(w, "");
                                 self->settle(w);
                               });
  }

  // Target::settle: the connect counts if the far end neither closed it nor failed within the
  // settle time, for kSettledInARow connects in a row; a byte it sends first (a banner) counts at
  // once. The probe sends nothing, so a service that waits for its client sees connections that
  // close unused.
  void settle(const std::shared_ptr<Wake>& wake) {
    std::weak_ptr<Wake> weak = wake;
    wake->settle.expires_after(wake->target.settle);
    wake->settle.async_wait([self = shared_from_this(), weak](net::ErrorCode ec) {
      auto w = weak.lock();
      if (ec || !w || w->finished) return;
      // Still open: the far end accepted (unless its close was late: ask once more).
      if (++w->settled >= kSettledInARow) return self->finish(w, "");
      self->probe(w);
    });
    wake->socket.async_read_some(
        boost::asio::buffer(&wake->peek, 1),
        [self = shared_from_this(), weak](net::ErrorCode read_ec, std::size_t n) {
          auto w = weak.lock();
          if (!w || w->finished || read_ec == boost::asio::error::operation_aborted) return;
          w->settle.cancel();
          if (!read_ec && n > 0) return self->finish(w, "");
          // Closed (or reset) before the settle time: the far end refused; try again.
          w->settled = 0;
          self->retryLater(w, &Controller::probe);
        });
  }

  void finish(const std::shared_ptr<Wake>& wake, const std::string& error) {
    if (wake->finished) return;
    wake->finished = true;
    wake->deadline.cancel();
    wake->retry.cancel();
    wake->settle.cancel();
    net::ErrorCode ignored;
    wake->socket.close(ignored);
    wakes_.erase(wake->key);
    if (error.empty()) {
      BERTH_LOG(Info, "wake",
                label(wake->target) << " is awake after " << millisSince(wake->began) << " ms ("
                                    << port(wake->target, " is bound", " accepts") << ")");
    } else {
      BERTH_LOG(Warn, "wake",
                "could not wake " << label(wake->target) << " after " << millisSince(wake->began)
                                  << " ms: " << error << "; its waiting connections are reset");
    }
    for (auto& done : wake->waiters) done(error);
  }

  // POST `target` without a body; "" when the engine did it (or had nothing to do: 304).
  void engineCall(const std::string& target, const Done& done) {
    engineRequest("POST", target,
                  [done](const std::string& error, int status, const std::string& body) {
                    if (!error.empty()) return done(error);
                    if (status == 204 || status == 304 || status == 200) return done("");
                    done(engineError(status, body));
                  });
  }

  // One bodiless request to the engine; the reply (or why there is none) on the strand.
  using Reply = std::function<void(const std::string& error, int status, const std::string& body)>;
  void engineRequest(const std::string& method, const std::string& target, const Reply& reply) {
    engine_([self = shared_from_this(), method, target, reply](const std::string& error,
                                                               const net::ConnectorPtr& engine) {
      boost::asio::post(self->strand_, [self, method, target, reply, error, engine] {
        if (!engine) return reply("no engine: " + error, 0, "");
        auto client = std::make_shared<EngineClient>(engine, self->strand_);
        client->call(method, target, {},
                     [client, reply](const std::string& call_error, int status,
                                     const std::string& body) { reply(call_error, status, body); });
      });
    });
  }

  boost::asio::any_io_executor strand_;
  EngineSource engine_;
  std::map<std::string, std::shared_ptr<Wake>> wakes_;
  bool stopped_ = false;
};

}  // namespace

std::shared_ptr<WakeController> WakeController::create(boost::asio::any_io_executor strand,
                                                       EngineSource engine) {
  return std::make_shared<Controller>(strand, std::move(engine));
}

std::shared_ptr<WakeController> WakeController::create(boost::asio::any_io_executor strand,
                                                       net::ConnectorPtr engine) {
  return create(std::move(strand), [engine](const auto& give) { give("", engine); });
}

}  // namespace berth::fwd
