#pragma once
// PipePool: reusable non-blocking pipes for SpliceRelay, so a short forwarded connection costs
// no pipe2/F_SETPIPE_SZ/close calls (6 syscalls per direction). Only empty pipes may be given
// back; the pool keeps at most kMaxIdle of them (an empty pipe holds no buffer pages, only two
// descriptors) and closes the rest. One pool per thread: take() and give() touch no lock.
#include <cstddef>
#include <vector>

namespace berth::fwd {

struct Pipe {
  int read = -1;
  int write = -1;
  bool valid() const { return read >= 0; }
};

class PipePool {
 public:
  // Capacity asked for every new pipe (best effort: the 64 KiB default works too).
  static constexpr int kPipeBytes = 256 * 1024;
  static constexpr std::size_t kMaxIdle = 32;

  // This thread's pool.
  static PipePool& local();

  // An empty pipe, reused or new; invalid (errno set) if pipe2 failed.
  Pipe take();
  // `pipe` must be empty (every byte spliced into it was spliced out), else use discard().
  void give(Pipe pipe);
  static void discard(Pipe pipe);

  PipePool() = default;
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

 private:
  std::vector<Pipe> idle_;
};

}  // namespace berth::fwd
