#include "server/ThreadedPipes.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <utility>

namespace berth::server {

struct ThreadedPipes::Pipe {
  int client = -1;
  int engine = -1;
  std::function<void()> done;
  std::atomic<int> running{2};  // directions not yet ended
  std::atomic<bool> broken{false};
  std::list<std::shared_ptr<Pipe>>::iterator listed;  // its place in pipes_
};

namespace {

void blocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) != 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

}  // namespace

ThreadedPipes::~ThreadedPipes() {
  std::unique_lock lock(mutex_);
  for (auto& pipe : pipes_) {
    // Wakes both threads from their read or write. Closed descriptors are -1 (closed under
    // the lock): a number the kernel gave to another file since is never shut down.
    if (pipe->client >= 0) ::shutdown(pipe->client, SHUT_RDWR);
    if (pipe->engine >= 0) ::shutdown(pipe->engine, SHUT_RDWR);
  }
  all_returned_.wait(lock, [this] { return threads_ == 0; });
}

void ThreadedPipes::relay(int client_fd, int engine_fd, std::function<void()> done) {
  blocking(client_fd);
  blocking(engine_fd);
  auto pipe = std::make_shared<Pipe>();
  pipe->client = client_fd;
  pipe->engine = engine_fd;
  pipe->done = std::move(done);
  std::lock_guard lock(mutex_);
  pipe->listed = pipes_.insert(pipes_.end(), pipe);
  // A pair, not a structured binding: clang 14 (the sanitizer build) cannot capture bindings.
  for (const auto& ends : {std::pair{client_fd, engine_fd}, std::pair{engine_fd, client_fd}}) {
    std::thread([this, pipe, ends]() mutable {
      pump(*pipe, ends.first, ends.second);
      if (pipe->running.fetch_sub(1) == 1) finish(*pipe);
      pipe.reset();  // the pipe (and its `done`) is gone before the owner may be
      std::lock_guard returned(mutex_);
      if (--threads_ == 0) all_returned_.notify_all();  // the thread's last use of `this`
    }).detach();
    ++threads_;
  }
}

std::size_t ThreadedPipes::active() {
  std::lock_guard lock(mutex_);
  return pipes_.size();
}

void ThreadedPipes::finish(Pipe& pipe) {
  {
    std::lock_guard lock(mutex_);
    ::close(pipe.client);
    ::close(pipe.engine);
    pipe.client = pipe.engine = -1;
    pipes_.erase(pipe.listed);
  }
  if (pipe.done) pipe.done();
  pipe.done = nullptr;
}

void ThreadedPipes::pump(Pipe& pipe, int from, int to) {
  // Allocated on the thread: a direction that never carries a byte costs only its stack.
  auto buffer = std::make_unique_for_overwrite<char[]>(chunk_bytes_);
  bool eof = false;
  while (!pipe.broken.load()) {
    const ssize_t n = ::read(from, buffer.get(), chunk_bytes_);
    if (n == 0) {
      eof = true;
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    ssize_t sent = 0;
    while (sent < n) {
      const ssize_t m =
          ::send(to, buffer.get() + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
      if (m < 0 && errno == EINTR) continue;
      if (m <= 0) break;
      sent += m;
    }
    if (sent < n) break;
  }
  if (eof && !pipe.broken.load()) {
    ::shutdown(to, SHUT_WR);  // the peer reads EOF; the other direction runs on
  } else {
    // A broken direction (reset, abort) ends the whole pipe: nothing more can flow.
    pipe.broken.store(true);
    ::shutdown(from, SHUT_RDWR);
    ::shutdown(to, SHUT_RDWR);
  }
}

}  // namespace berth::server
