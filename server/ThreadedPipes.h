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
// direction runs on to its end; an error one way ends both. The threads are detached: a pipe's
// last thread takes it off the list as it ends, so a finished connection holds no thread or
// stack while no new one comes. Thread-safe; the destructor shuts down the sockets still
// relayed and waits until every thread has returned.
#include <condition_variable>
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
  // Pairs being relayed now.
  std::size_t active();

 private:
  struct Pipe;
  void pump(Pipe& pipe, int from, int to);
  void finish(Pipe& pipe);  // by the pipe's last thread: closes, unlists, runs `done`

  std::size_t chunk_bytes_;
  std::mutex mutex_;
  std::condition_variable all_returned_;
  std::list<std::shared_ptr<Pipe>> pipes_;
  int threads_ = 0;  // pump threads that have not yet returned (under mutex_)
};

}  // namespace berth::server
