#include "forwarding/TcpForward.h"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "forwarding/SpliceRelay.h"
#include "forwarding/WakeGate.h"
#include "server/net/ByteStream.h"
#include "server/net/Log.h"

namespace berth::fwd {

struct TcpForward::State {
  State(boost::asio::any_io_executor control, boost::asio::any_io_executor io_executor)
      : acceptor(control), retry(control), io(std::move(io_executor)) {}
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::steady_timer retry;
  boost::asio::any_io_executor io;
  boost::asio::ip::tcp::endpoint target;
  std::shared_ptr<const GuestNetns> netns;
  std::shared_ptr<WakeGate> gate;
  std::chrono::milliseconds settle{0};
  std::mutex mutex;  // guards relays: they end on their own strands
  std::unordered_map<std::uint64_t, std::weak_ptr<SpliceRelay>> relays;
  std::uint64_t next_id = 0;
};

std::unique_ptr<TcpForward> TcpForward::open(boost::asio::any_io_executor control,
                                             boost::asio::any_io_executor io,
                                             const boost::asio::ip::tcp::endpoint& bind,
                                             const boost::asio::ip::tcp::endpoint& target,
                                             std::shared_ptr<const GuestNetns> netns,
                                             std::shared_ptr<WakeGate> gate, std::string& error,
                                             std::chrono::milliseconds settle) {
  auto state = std::make_shared<State>(std::move(control), std::move(io));
  state->settle = settle;
  state->target = target;
  state->netns = std::move(netns);
  state->gate = std::move(gate);
  auto& acceptor = state->acceptor;
  net::ErrorCode ec;
  acceptor.open(bind.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec && bind.address().is_v6()) acceptor.set_option(boost::asio::ip::v6_only(true), ec);
  // Accepted sockets inherit TCP_NODELAY: one setsockopt per port, not per connection.
  if (!ec) acceptor.set_option(boost::asio::ip::tcp::no_delay(true), ec);
  if (!ec) acceptor.bind(bind, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = ec.message();
    return nullptr;
  }
  accept(state);
  return std::unique_ptr<TcpForward>(new TcpForward(state));
}

void TcpForward::accept(const std::shared_ptr<State>& state) {
  state->acceptor.async_accept(
      boost::asio::make_strand(state->io),
      [state](net::ErrorCode ec, boost::asio::ip::tcp::socket socket) {
        if (ec == boost::asio::error::operation_aborted || !state->acceptor.is_open()) return;
        // splice() needs O_NONBLOCK on the socket; set through Asio, so that its waits know.
        if (!ec) socket.native_non_blocking(true, ec);
        if (!ec) {
          admit(state, std::move(socket));
        } else if (socket.is_open()) {
          BERTH_LOG(Debug, "forwarding", "accepted connection: " << ec.message());
        } else {
          // EMFILE and friends: try again shortly rather than spin on the same error.
          BERTH_LOG(Warn, "forwarding", "accept: " << ec.message() << "; retrying in 100 ms");
          state->retry.expires_after(std::chrono::milliseconds(100));
          state->retry.async_wait([state](net::ErrorCode wait_ec) {
            if (!wait_ec && state->acceptor.is_open()) accept(state);
          });
          return;
        }
        accept(state);
      });
}

void TcpForward::admit(const std::shared_ptr<State>& state, boost::asio::ip::tcp::socket socket) {
  if (!state->gate) return relay(state, std::move(socket));
  auto held = std::make_shared<boost::asio::ip::tcp::socket>(std::move(socket));
  auto ready = [state, held](const std::string& error) {
    if (error.empty() && state->acceptor.is_open()) return relay(state, std::move(*held));
    // The wake failed (the log says why) or the forward closed meanwhile: a reset, not a
    // connection that would hang or read an empty reply.
    net::ErrorCode ignored;
    held->set_option(boost::asio::socket_base::linger(true, 0), ignored);
    held->close(ignored);
  };
  if (state->gate->admit(state->target, state->netns, ready, state->settle))
    relay(state, std::move(*held));
}

void TcpForward::relay(const std::shared_ptr<State>& state, boost::asio::ip::tcp::socket socket) {
  if (state->gate) state->gate->opened();
  std::shared_ptr<SpliceRelay> relay;
  {
    std::lock_guard lock(state->mutex);
    std::uint64_t id = state->next_id++;
    std::weak_ptr<State> weak = state;
    relay = std::make_shared<SpliceRelay>(std::move(socket), state->target, state->netns,
                                          [weak, id, gate = state->gate] {
                                            if (gate) gate->closed();
                                            if (auto s = weak.lock()) {
                                              std::lock_guard inner(s->mutex);
                                              s->relays.erase(id);
                                            }
                                          });
    state->relays.emplace(id, relay);
  }
  relay->start();
}

TcpForward::~TcpForward() {
  net::ErrorCode ignored;
  state_->acceptor.close(ignored);
  state_->retry.cancel();
  std::lock_guard lock(state_->mutex);
  for (auto& [id, weak] : state_->relays) {
    if (auto relay = weak.lock()) relay->close();
  }
}

}  // namespace berth::fwd
