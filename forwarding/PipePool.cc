#include "forwarding/PipePool.h"

#include <fcntl.h>
#include <unistd.h>

namespace berth::fwd {

PipePool& PipePool::local() {
  thread_local PipePool pool;
  return pool;
}

Pipe PipePool::take() {
  if (!idle_.empty()) {
    Pipe pipe = idle_.back();
    idle_.pop_back();
    return pipe;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  // 256 KiB (not the 64 KiB default) halves the syscalls per byte on a fast loopback sender;
  // it is also the most kernel memory a direction of a connection can hold.
  ::fcntl(fds[1], F_SETPIPE_SZ, kPipeBytes);
  return {fds[0], fds[1]};
}

void PipePool::give(Pipe pipe) {
  if (!pipe.valid()) return;
  if (idle_.size() >= kMaxIdle) return discard(pipe);
  idle_.push_back(pipe);
}

void PipePool::discard(Pipe pipe) {
  if (pipe.read >= 0) ::close(pipe.read);
  if (pipe.write >= 0) ::close(pipe.write);
}

PipePool::~PipePool() {
  for (const Pipe& pipe : idle_) discard(pipe);
}

}  // namespace berth::fwd
