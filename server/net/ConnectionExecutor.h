#pragma once
// connectionExecutor: the executor an accepted connection runs on. A strand of its own, or, for
// an io_context that one thread runs, the io_context's own executor: there a strand's mutex, its
// invoker and the heap copy each any_io_executor makes of it buy nothing. Used by the listeners.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

namespace berth::net {

inline boost::asio::any_io_executor connectionExecutor(boost::asio::io_context& io, bool strand) {
  if (strand) return boost::asio::make_strand(io);
  return io.get_executor();
}

}  // namespace berth::net
