#include "server/dashboard/DashboardServer.h"

#include <sys/stat.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <deque>
#include <optional>
#include <stdexcept>
#include <vector>

#include "api/LogLines.h"
#include "api/Numbers.h"
#include "forwarding/EngineClient.h"
#include "server/TcpListener.h"
#include "server/dashboard/DashboardAccess.h"
#include "server/dashboard/DashboardAssets.h"
#include "server/net/Files.h"
#include "server/net/Log.h"
#include "server/net/StreamAdapter.h"

namespace berth::server {
namespace http = boost::beast::http;

struct DashboardServer::Shared {
  Options options;
  std::unique_ptr<DashboardAccess> access;  // made by open(), once the port is known
};

namespace {

constexpr std::size_t kMaxQueuedEventBytes = std::size_t{4}
                                             << 20;  // a browser that stopped reading
constexpr std::size_t kMaxStatsContainers = 64;

// The headers every answer carries: the page runs only its own scripts, is never framed, and
// answers no other origin (no CORS header is ever sent).
void secure(http::fields& fields) {
  fields.set("Content-Security-Policy",
             "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  fields.set("X-Content-Type-Options", "nosniff");
  fields.set("Referrer-Policy", "no-referrer");
  fields.set(http::field::cache_control, "no-store");
}

// A container id or name as the engine accepts it; anything else never reaches the engine.
bool validContainerId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

std::vector<std::string> splitIds(const std::string& list) {
  std::vector<std::string> ids;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto comma = list.find(',', start);
    const std::string id =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!id.empty()) ids.push_back(id);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ids;
}

std::string_view view(boost::beast::string_view s) { return {s.data(), s.size()}; }

std::string jsonText(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One browser connection: requests one after another (keep-alive), or one event stream.
class DashboardSession : public std::enable_shared_from_this<DashboardSession> {
 public:
  DashboardSession(net::ByteStreamPtr stream, std::shared_ptr<DashboardServer::Shared> shared)
      : stream_(std::move(stream)),
        io_(*stream_),
        shared_(std::move(shared)),
        timer_(stream_->executor()) {}

  void start() { readRequest(); }

 private:
  const DashboardServer::Options& options() const { return shared_->options; }

  void readRequest() {
    parser_.emplace();
    parser_->body_limit(std::uint64_t{64} << 10);
    parser_->header_limit(16 * 1024);
    timer_.expires_after(std::chrono::seconds(60));
    timer_.async_wait([weak = weak_from_this()](net::ErrorCode ec) {
      if (auto self = weak.lock(); self && !ec) self->stream_->close();
    });
    http::async_read(io_, buffer_, *parser_,
                     [self = shared_from_this()](net::ErrorCode ec, std::size_t) {
                       self->timer_.cancel();
                       if (ec) return self->stream_->close();
                       self->handle();
                     });
  }

  void handle() {
    const auto& request = parser_->get();
    keep_alive_ = request.keep_alive();
    const std::string method(request.method_string());
    const std::string target(request.target());
    const DashboardAccess::Request asked{method,
                                         target,
                                         view(request[http::field::host]),
                                         view(request[http::field::cookie]),
                                         view(request["X-Berth-CSRF"]),
                                         view(request[http::field::origin])};
    const auto& access = *shared_->access;
    switch (access.check(asked)) {
      case DashboardAccess::Verdict::Allow:
        return route(method, target);
      case DashboardAccess::Verdict::ExchangeToken:
        return reply(http::status::see_other, "text/plain", "",
                     {{"Location", DashboardAccess::redirectTarget(target)},
                      {"Set-Cookie", access.setCookie()}});
      case DashboardAccess::Verdict::BadHost:
        BERTH_LOG(Warn, "dashboard",
                  "refused a request for host '" << std::string(request[http::field::host]) << "'");
        return replyJson(
            403, {{"message", "forbidden: this page answers only on 127.0.0.1:" +
                                  std::to_string(shared_->options.port) + " and localhost"}});
      case DashboardAccess::Verdict::Unauthorized:
        return replyJson(401, {{"message",
                                "open the address `berth dashboard` prints (it "
                                "carries the profile's token)"}});
      case DashboardAccess::Verdict::Forbidden:
        BERTH_LOG(Warn, "dashboard",
                  "refused " << method << " " << target.substr(0, target.find('?'))
                             << ": no POST with the page's CSRF token");
        return replyJson(403, {{"message",
                                "forbidden: a change needs a POST from the dashboard "
                                "page itself"}});
      case DashboardAccess::Verdict::BadMethod:
        return replyJson(405, {{"message", "method not allowed"}});
    }
  }

  void route(const std::string& method, const std::string& target) {
    const std::string path = target.substr(0, target.find('?'));
    if (method == "GET") {
      if (const auto* asset = DashboardAssets::find(path))
        return reply(http::status::ok, std::string(asset->content_type), std::string(asset->body));
      if (path == "/api/session") return replyJson(200, {{"csrf", shared_->access->csrf()}});
      if (path == "/api/status") return replyJson(200, options().status());
      if (path == "/api/guest-events") return replyJson(200, guestEvents(target));
      if (path == "/api/containers") return engineWhole("GET", "/containers/json?all=1");
      if (path == "/api/events") return events();
      if (path == "/api/stats") return stats(queryParam(target, "ids"));
      if (path == "/api/logs") return logs(queryParam(target, "id"));
      return replyJson(404, {{"message", "no such page: " + path}});
    }
    // POST under /api/do/ with the CSRF token (DashboardAccess made sure).
    static const std::string kGuest = "/api/do/guest/";
    static const std::string kContainers = "/api/do/containers/";
    if (path.starts_with(kGuest)) {
      const std::string action = path.substr(kGuest.size());
      if (action != "start" && action != "stop" && action != "restart")
        return replyJson(404, {{"message", "no guest action '" + action + "'"}});
      auto self = shared_from_this();
      auto executor = stream_->executor();
      BERTH_LOG(Info, "dashboard", "guest " << action << " asked from the page");
      return options().guest_action(action, [self, executor](int status, nlohmann::json body) {
        boost::asio::post(
            executor, [self, status, body = std::move(body)] { self->replyJson(status, body); });
      });
    }
    if (path.starts_with(kContainers)) {
      const std::string rest = path.substr(kContainers.size());
      const auto slash = rest.find('/');
      const std::string id = rest.substr(0, slash);
      const std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
      if (!validContainerId(id)) return replyJson(400, {{"message", "bad container id"}});
      if (action == "start") return engineWhole("POST", "/containers/" + id + "/start");
      // busybox's sh as pid 1 ignores SIGTERM: the CLI's 10 s wait helps nobody on a page.
      if (action == "stop") return engineWhole("POST", "/containers/" + id + "/stop?t=3");
      if (action == "restart") return engineWhole("POST", "/containers/" + id + "/restart?t=3");
      if (action == "remove") return engineWhole("DELETE", "/containers/" + id + "?force=1");
      return replyJson(404, {{"message", "no container action '" + action + "'"}});
    }
    return replyJson(404, {{"message", "no such action: " + path}});
  }

  // berth's own guest events after ?after=SEQ (all kept ones without it or with a bad one).
  nlohmann::json guestEvents(const std::string& target) {
    const std::string text = queryParam(target, "after");
    const std::uint64_t after = api::parseWhole<std::uint64_t>(text).value_or(0);
    return options().guest_events ? options().guest_events(after) : nlohmann::json::array();
  }

  // Engine calls go out only while the guest runs: the page must not boot a stopped guest.
  bool refuseWhenDown() {
    if (options().engine_up()) return false;
    replyJson(503, {{"message",
                     "the guest is not running (start it from this page or with "
                     "berth start)"}});
    return true;
  }

  void engineWhole(const std::string& method, const std::string& target) {
    if (refuseWhenDown()) return;
    engine().call(method, target, {},
                  [self = shared_from_this()](std::string error, int status, std::string body) {
                    if (status == 0) return self->replyJson(502, {{"message", error}});
                    // The page reads JSON: "204 No Content" (a stop, a remove) becomes 200 with {};
                    // Beast refuses a body on a 204 and no exception may leave a session.
                    if (status == 204 || body.empty()) {
                      status = 200;
                      body = "{}";
                    }
                    self->reply(static_cast<http::status>(status), "application/json",
                                std::move(body));
                  });
  }

  fwd::EngineClient engine() { return {options().engine, stream_->executor()}; }

  void replyJson(int status, const nlohmann::json& body) {
    reply(static_cast<http::status>(status), "application/json", jsonText(body));
  }

  void reply(http::status status, const std::string& type, std::string body,
             const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    response_ = {};
    response_.result(status);
    response_.version(11);
    response_.set(http::field::content_type, type);
    secure(response_);
    for (const auto& [name, value] : extra) response_.set(name, value);
    response_.body() = std::move(body);
    response_.keep_alive(keep_alive_);
    response_.prepare_payload();
    http::async_write(io_, response_, [self = shared_from_this()](net::ErrorCode ec, std::size_t) {
      if (ec || !self->keep_alive_) return self->stream_->close();
      self->readRequest();
    });
  }

  // ---- Server-Sent Events: the header, then `data:` messages until either side ends.

  void beginEvents() {
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
        "Content-Security-Policy: default-src 'self'\r\nX-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n\r\nretry: 2000\n\n";
    queue(std::move(head));
    // The browser sends nothing more: a read ends when it goes away, and so do the feeds.
    stream_->readSome(boost::asio::buffer(probe_),
                      [self = shared_from_this()](net::ErrorCode, std::size_t) { self->end(); });
  }

  void send(const std::string& data, const char* event = nullptr) {
    std::string message = event ? std::string("event: ") + event + "\n" : std::string();
    message += "data: " + data + "\n\n";
    queue(std::move(message));
  }

  void queue(std::string bytes) {
    if (ended_) return;
    queued_bytes_ += bytes.size();
    if (queued_bytes_ > kMaxQueuedEventBytes) {
      BERTH_LOG(Warn, "dashboard", "a page stopped reading its event stream: closed");
      return end();
    }
    out_.push_back(std::move(bytes));
    pump();
  }

  void pump() {
    if (writing_ || out_.empty() || ended_) return;
    writing_ = true;
    boost::asio::async_write(io_, boost::asio::buffer(out_.front()),
                             [self = shared_from_this()](net::ErrorCode ec, std::size_t n) {
                               self->writing_ = false;
                               if (ec) return self->end();
                               self->queued_bytes_ -= n;
                               self->out_.pop_front();
                               if (self->out_.empty() && self->close_when_drained_)
                                 return self->end();
                               self->pump();
                             });
  }

  void end() {
    if (ended_) return;
    ended_ = true;
    auto feeds = std::move(feeds_);
    for (auto& feed : feeds) feed->cancel();
    stream_->close();
  }

  // Opens a stream from the engine whose body is lines (JSON per line, or log lines).
  void feed(const std::string& target, const std::shared_ptr<api::LogLines>& lines,
            std::function<void(std::string_view)> on_line, const std::function<void()>& on_end) {
    fwd::EngineClient::ByteHandlers handlers;
    auto self = shared_from_this();
    handlers.on_data = [self, lines, on_line](std::string_view bytes) {
      lines->feed(bytes, [&](api::LogLines::Source, std::string_view line) { on_line(line); });
    };
    handlers.on_end = [self, on_end](int, const std::string&) { on_end(); };
    handlers.on_head = [self, target](int status) {
      if (status != 200)
        BERTH_LOG(Info, "dashboard", "engine answered " << status << " for " << target);
    };
    feeds_.push_back(engine().streamBytes("GET", target, std::move(handlers)));
  }

  void events() {
    if (refuseWhenDown()) return;
    beginEvents();
    // The kinds a user acts on: filters={"type":["container","image","network","volume",
    // "daemon"]} (swarm's kinds never occur on a berth guest).
    feed(
        "/events?filters=%7B%22type%22%3A%5B%22container%22%2C%22image%22%2C%22network%22%2C"
        "%22volume%22%2C%22daemon%22%5D%7D",
        std::make_shared<api::LogLines>(true),
        [this](std::string_view line) { send(std::string(line)); }, [this] { end(); });
  }

  void stats(const std::string& list) {
    const auto ids = splitIds(list);
    if (ids.empty() || ids.size() > kMaxStatsContainers)
      return replyJson(400, {{"message", "name 1 to 64 containers: ids=ID,ID,..."}});
    for (const auto& id : ids)
      if (!validContainerId(id)) return replyJson(400, {{"message", "bad container id"}});
    if (refuseWhenDown()) return;
    beginEvents();
    live_feeds_ = static_cast<int>(ids.size());
    for (const auto& id : ids) {
      // The engine's JSON is passed on as it is, tagged with the id it belongs to.
      const std::string prefix = "{\"id\":" + nlohmann::json(id).dump() + ",\"stats\":";
      feed(
          "/containers/" + id + "/stats?stream=1", std::make_shared<api::LogLines>(true),
          [this, prefix](std::string_view line) { send(prefix + std::string(line) + "}"); },
          [this] {
            if (--live_feeds_ == 0) end();
          });
    }
  }

  void logs(const std::string& id) {
    if (!validContainerId(id)) return replyJson(400, {{"message", "bad container id"}});
    if (refuseWhenDown()) return;
    // The framing depends on the container's TTY: ask first.
    auto on_reply = [self = shared_from_this(), id](const std::string& error, int status,
                                                    const std::string& body) {
      if (status != 200) {
        if (status == 0) return self->replyJson(502, {{"message", error}});
        return self->reply(static_cast<http::status>(status), "application/json", body);
      }
      // A body that is no JSON object reads as no TTY (hasTty checks each field).
      const bool tty = api::LogLines::hasTty(nlohmann::json::parse(body, nullptr, false));
      self->beginEvents();
      auto lines = std::make_shared<api::LogLines>(tty);
      self->feedLogs(id, lines);
    };
    engine().get("/containers/" + id + "/json", std::move(on_reply));
  }

  void feedLogs(const std::string& id, const std::shared_ptr<api::LogLines>& lines) {
    fwd::EngineClient::ByteHandlers handlers;
    auto self = shared_from_this();
    auto send_line = [self](api::LogLines::Source source, std::string_view line) {
      self->send(
          jsonText({{"stream", source == api::LogLines::Source::Stderr ? "stderr" : "stdout"},
                    {"line", std::string(line)}}));
    };
    handlers.on_data = [lines, send_line](std::string_view bytes) {
      lines->feed(bytes, send_line);
    };
    handlers.on_end = [self, lines, send_line](int, const std::string&) {
      lines->finish(send_line);
      // The container stopped: the page keeps what it has instead of reconnecting.
      self->send("{}", "end");
      self->closeAfterWrites();
    };
    feeds_.push_back(engine().streamBytes(
        "GET", "/containers/" + id + "/logs?follow=1&stdout=1&stderr=1&tail=200",
        std::move(handlers)));
  }

  void closeAfterWrites() {
    if (out_.empty() && !writing_) return end();
    // Whatever is queued goes first; the probe read or the next write failure ends it later.
    close_when_drained_ = true;
  }

  net::ByteStreamPtr stream_;
  net::StreamAdapter io_;
  std::shared_ptr<DashboardServer::Shared> shared_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  bool keep_alive_ = false;
  // Event streams.
  std::vector<std::shared_ptr<fwd::EngineClient::Stream>> feeds_;
  std::deque<std::string> out_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool ended_ = false;
  bool close_when_drained_ = false;
  int live_feeds_ = 0;
  char probe_[1] = {};
};

}  // namespace

DashboardServer::DashboardServer(boost::asio::io_context& io, Options options)
    : io_(io), shared_(std::make_shared<Shared>()) {
  shared_->options = std::move(options);
}

DashboardServer::~DashboardServer() { stop(); }

void DashboardServer::open() {
  auto shared = shared_;
  listener_ = std::make_shared<TcpListener>(
      io_, "127.0.0.1", shared_->options.port, nullptr, [shared](net::ByteStreamPtr stream) {
        std::make_shared<DashboardSession>(std::move(stream), shared)->start();
      });
  listener_->open();
  shared_->options.port = listener_->port();
  shared_->access = std::make_unique<DashboardAccess>(
      shared_->options.token, DashboardAccess::randomSecret(), shared_->options.port);
  listener_->start();
  BERTH_LOG(Info, "dashboard", "dashboard on " << url(false));
}

void DashboardServer::stop() {
  if (listener_) listener_->stop();
}

std::uint16_t DashboardServer::port() const { return shared_->options.port; }

std::string DashboardServer::url(bool with_token) const {
  return "http://127.0.0.1:" + std::to_string(port()) + "/" +
         (with_token ? "?token=" + shared_->options.token : "");
}

std::string DashboardServer::loadToken(const std::string& path) {
  std::string token = net::Files::readTrimmed(path);
  struct stat st {};
  const bool private_file = ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) == 0;
  if (token.size() >= 32 && private_file) return token;
  token = DashboardAccess::randomSecret();  // none yet, or readable by others: a new one
  net::Files::writeAtomic(path, token + "\n", 0600);
  return token;
}

std::uint16_t DashboardServer::loadPort(const std::string& path) {
  return api::parsePort(net::Files::readTrimmed(path)).value_or(0);
}

void DashboardServer::savePort(const std::string& path, std::uint16_t port) {
  net::Files::writeAtomic(path, std::to_string(port) + "\n", 0600);
}

}  // namespace berth::server
