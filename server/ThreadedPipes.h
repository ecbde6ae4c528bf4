#pragma once
// ThreadedPipes: relays bytes both ways between pairs of connected plain sockets (file
// descriptors), each direction on a thread of its own that blocks in read(2) and write(2). No
// reactor sits between a read and the write that follows it, so a hop costs one wake-up of the
// thread that waits on that very socket. Why for containerd's API: gRPC's flow control makes
// its small HTTP/2 frames (window updates, pings and their acks) round trips through the relay,
// and on 2 cores the asio pipe's extra wake-ups slowed `ctr images export` by 9-17% against a
// blocking relay (tests/bench/containerd_bench.py, issue 14). A thread pair per connection
// suits an API with a handful of long-lived connections (not docker.sock's hundreds).
// Half-close as in RawPipe: EOF one way shuts down sending on the other socket, and the other
// direction runs on to its end; an error one way ends both. Thread-safe; the destructor shuts
// down the sockets still relayed and joins their threads.
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>

namespace berth::server {

class ThreadedPipes {
 public:
  explicit ThreadedPipes(std::size_t chunk_bytes) : chunk_bytes_(chunk_bytes) {}
  ~ThreadedPipes();
  ThreadedPipes(const ThreadedPipes&) = delete;
  ThreadedPipes& operator=(const ThreadedPipes&) = delete;

  // Takes both descriptors (closed when both directions have ended) and relays them; `done`
  // runs once then, on one of the pipe's threads (the destructor's end of a pipe included).
  void relay(int client_fd, int engine_fd, std::function<void()> done);
  // Pairs being relayed now (finished ones are reaped on the next relay()).
  std::size_t active();

 private:
  struct Pipe;
  void pump(Pipe& pipe, int from, int to);
  void reapFinished();

  std::size_t chunk_bytes_;
  std::mutex mutex_;
  std::list<std::shared_ptr<Pipe>> pipes_;
};

}  // namespace berth::server
