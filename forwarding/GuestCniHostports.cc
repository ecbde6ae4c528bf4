#include "forwarding/GuestCniHostports.h"

#include <csignal>

#include "forwarding/PipedChild.h"
#include "server/net/Log.h"

namespace berth::fwd {
namespace {

// A nat table this big is not a guest's: stop reading rather than grow without end.
constexpr std::size_t kMaxText = std::size_t{16} << 20;
constexpr std::size_t kMaxMessage = 200;

}  // namespace

GuestCniHostports::GuestCniHostports(boost::asio::any_io_executor strand, std::string netns)
    : strand_(std::move(strand)), netns_(std::move(netns)), output_(strand_) {}

GuestCniHostports::~GuestCniHostports() { endRun(); }

void GuestCniHostports::refresh() {
  if (run_) {
    if (std::chrono::steady_clock::now() - started_ < kTimeout) return;
    BERTH_LOG(
        Warn, "forwarding",
        "iptables-save in " << netns_ << " ran for more than " << kTimeout.count() << " s: killed");
    endRun();
  }
  net::SpawnOptions spawn;
  spawn.argv = {"nsenter", "--net=" + netns_, "iptables-save", "-t", "nat"};
  spawn.new_session = true;  // a terminal's Ctrl-C is not for it
  int output = -1;           // its stdout and stderr: its errors say why a run failed
  try {
    run_.emplace(spawnPiped(spawn, output));
  } catch (const net::ProcessError& e) {
    if (last_error_ != e.what()) BERTH_LOG(Warn, "forwarding", e.what());
    last_error_ = e.what();
    return;
  }
  started_ = std::chrono::steady_clock::now();
  output_.assign(output);
  text_.clear();
  read();
}

void GuestCniHostports::stop() { endRun(); }

void GuestCniHostports::read() {
  output_.async_read_some(
      boost::asio::buffer(chunk_),
      [weak = weak_from_this()](const boost::system::error_code& ec, std::size_t n) {
        auto self = weak.lock();
        if (!self || ec == boost::asio::error::operation_aborted || !self->run_) return;
        if (ec) return self->finished();  // end of its output: it has ended
        if (self->text_.size() + n > kMaxText) {
          BERTH_LOG(Warn, "forwarding",
                    "iptables-save in " << self->netns_ << " printed more than " << (kMaxText >> 20)
                                        << " MiB: killed");
          return self->endRun();
        }
        self->text_.append(self->chunk_.data(), n);
        self->read();
      });
}

void GuestCniHostports::finished() {
  // Its output closed: it exits now (the short wait reaps it; it does not hold the strand).
  auto status = run_->wait(std::chrono::milliseconds(200));
  if (!status) status = run_->stop(std::chrono::milliseconds(0), SIGKILL);
  endRun();
  if (status->code != 0) {
    std::string why = "CNI hostPorts of " + netns_ + " not read: iptables-save " +
                      status->describe() + ": " + text_.substr(0, kMaxMessage);
    if (why != last_error_) BERTH_LOG(Warn, "forwarding", why);
    last_error_ = std::move(why);
    return;
  }
  last_error_.clear();
  last_ = CniHostports::parse(text_);
}

void GuestCniHostports::endRun() {
  boost::system::error_code ignored;
  output_.close(ignored);
  if (run_ && run_->running()) run_->stop(std::chrono::milliseconds(0), SIGKILL);
  run_.reset();
}

}  // namespace berth::fwd
