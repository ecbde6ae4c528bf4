#include "forwarding/GuestShellListeners.h"

#include <algorithm>

#include "forwarding/PipedChild.h"
#include "server/net/Log.h"

namespace berth::fwd {
namespace {

// A line longer than this is no table row: the command is not the watch loop.
constexpr std::size_t kMaxLine = std::size_t{64} * 1024;
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
      repeat_(strand_),
      watch_(options_.filter) {}

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
  on_poll_(watch_.listeners());
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
  watch_.reset();
  read();
}

void GuestShellListeners::read() {
  output_.async_read_some(
      boost::asio::buffer(chunk_),
      [weak = weak_from_this()](const boost::system::error_code& ec, std::size_t n) {
        auto self = weak.lock();
        if (!self || self->stopped_ || ec == boost::asio::error::operation_aborted) return;
        if (ec) {
          const std::string why = !self->watch_.message().empty() ? self->watch_.message()
                                  : ec == boost::asio::error::eof ? std::string()
                                                                  : ec.message();
          return self->ended(why);
        }
        self->pending_.append(self->chunk_.data(), n);
        std::size_t start = 0;
        for (auto end = self->pending_.find('\n'); end != std::string::npos;
             end = self->pending_.find('\n', start)) {
          if (self->watch_.line(std::string_view(self->pending_).substr(start, end - start))) {
            self->backoff_ = kFirstRetry;
            self->on_state_(true, "");
            if (self->stopped_) return;  // the callback stopped us
            self->report();
            if (self->stopped_) return;
          }
          start = end + 1;
        }
        self->pending_.erase(0, start);
        if (self->pending_.size() > kMaxLine)
          return self->ended("the guest's command printed something that is not a socket table");
        self->read();
      });
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
