#pragma once
// Placement: where a listener puts each accepted connection, i.e. the executor its handlers run
// on for its life. connectionExecutor: the default, a strand of its own on the listener's
// io_context (safe however many threads run it). The relay instead places connections with
// IoPool::place(): an io_context that one thread runs, where a strand's mutex, its invoker and
// the heap copy each any_io_executor makes of it buy nothing.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <functional>

namespace berth::net {

using Placement = std::function<boost::asio::any_io_executor()>;

inline boost::asio::any_io_executor connectionExecutor(boost::asio::io_context& io,
                                                       const Placement& place) {
  if (place) return place();
  return boost::asio::make_strand(io);
}

}  // namespace berth::net
