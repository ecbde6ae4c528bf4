#include "forwarding/GuestShellListeners.h"

#include <algorithm>

#include "forwarding/PipedChild.h"
#include "forwarding/ProcNetTcp.h"
#include "server/net/Log.h"

namespace berth::fwd {
namespace {

// A line longer than this is no table row: the command is not the watch loop.
constexpr std::size_t kMaxLine = std::size_t{64} * 1024;
constexpr std::size_t kMaxMessage = 200;

bool isLoopback(const std::string& address) {
  return address == "::1" || address.rfind("127.", 0) == 0 || address.rfind("::ffff:127.", 0) == 0;
}

}  // namespace

GuestShellListeners::GuestShellListeners(boost::asio::any_io_executor strand, Options options,
                                         OnPoll on_poll, OnState on_state,
                                         std::chrono::milliseconds every)
    : strand_(std::move(strand)),
      options_(std::move(options)),
      on_poll_(std::move(on_poll)),
      on_state_(std::move(on_state)),
      output_(strand_),
      every_(every),
      retry_(strand_),
      repeat_(strand_) {}

GuestShellListeners::~GuestShellListeners() { endCommand(); }

bool GuestShellListeners::start(std::string& error) {
  stopped_ = false;
  backoff_ = kFirstRetry;
  run(error);
  if (!error.empty()) stopped_ = true;
  return error.empty();
}

void GuestShellListeners::stop() {
  stopped_ = true;
  retry_.cancel();
  endCommand();
}

void GuestShellListeners::report() {
  on_poll_(last_);
  if (stopped_) return;  // the callback stopped us
  repeat_.expires_after(every_);
  repeat_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (self && !ec && !self->stopped_) self->report();
  });
}

void GuestShellListeners::run(std::string& error) {
  if (options_.argv.empty()) {
    error = "no command reads the guest's socket table";
    return;
  }
  net::SpawnOptions spawn;
  spawn.argv = options_.argv;
  spawn.new_session = true;  // a terminal's Ctrl-C is not for it
  int output = -1;           // its stdout and stderr: ssh's own errors tell why a session ends
  try {
    command_.emplace(spawnPiped(spawn, output));
  } catch (const net::ProcessError& e) {
    error = e.what();
    return;
  }
  output_.assign(output);
  pending_.clear();
  table_.clear();
  last_message_.clear();
  read();
}

void GuestShellListeners::read() {
  output_.async_read_some(
      boost::asio::buffer(chunk_),
      [weak = weak_from_this()](const boost::system::error_code& ec, std::size_t n) {
        auto self = weak.lock();
        if (!self || self->stopped_ || ec == boost::asio::error::operation_aborted) return;
        if (ec) {
          const std::string why = !self->last_message_.empty()    ? self->last_message_
                                  : ec == boost::asio::error::eof ? std::string()
                                                                  : ec.message();
          return self->ended(why);
        }
        self->pending_.append(self->chunk_.data(), n);
        std::size_t start = 0;
        for (auto end = self->pending_.find('\n'); end != std::string::npos;
             end = self->pending_.find('\n', start)) {
          self->onLine(std::string_view(self->pending_).substr(start, end - start));
          if (self->stopped_) return;  // a callback stopped us
          start = end + 1;
        }
        self->pending_.erase(0, start);
        if (self->pending_.size() > kMaxLine)
          return self->ended("the guest's command printed something that is not a socket table");
        self->read();
      });
}

void GuestShellListeners::onLine(std::string_view line) {
  if (line != ProcNetTcp::kEndOfTable) {
    if (ProcNetTcp::listening(line).empty() && !line.empty())
      last_message_ = std::string(line.substr(0, kMaxMessage));
    else if (table_.size() < kMaxLine * 16)
      table_.append(line).push_back('\n');
    return;
  }
  auto sockets = ProcNetTcp::listening(table_);
  table_.clear();
  std::erase_if(sockets, [this](const ListeningSocket& s) {
    return options_.own_ports.count(s.port) || !SockDiag::wildcardOrLoopback(s.address) ||
           (!options_.loopback && isLoopback(s.address));
  });
  sortListeners(sockets);
  if (backoff_ != kFirstRetry || !last_message_.empty()) {
    backoff_ = kFirstRetry;
    last_message_.clear();
  }
  on_state_(true, "");
  last_ = std::move(sockets);
  if (!stopped_) report();
}

void GuestShellListeners::ended(const std::string& message) {
  std::string why = "reading the guest's listening sockets: the command ";
  if (command_) {
    // Its output closed: it has ended, or ends at once (it is not waited on for long here).
    auto status = command_->wait(std::chrono::milliseconds(200));
    if (!status) status = command_->stop(std::chrono::milliseconds(0), SIGKILL);
    why += status->describe();
  } else {
    why += "ended";
  }
  if (!message.empty()) why += ": " + message;
  endCommand();
  why += "; retrying in " + std::to_string(backoff_.count()) + " s";
  BERTH_LOG(Warn, "forwarding", why);
  on_state_(false, why);
  if (stopped_) return;
  retry_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, kLastRetry);
  retry_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || self->stopped_) return;
    std::string error;
    self->run(error);
    if (!error.empty()) self->ended(error);
  });
}

void GuestShellListeners::endCommand() {
  repeat_.cancel();
  boost::system::error_code ignored;
  output_.close(ignored);
  if (command_ && command_->running()) command_->stop(std::chrono::milliseconds(0), SIGKILL);
  command_.reset();
}

}  // namespace berth::fwd
