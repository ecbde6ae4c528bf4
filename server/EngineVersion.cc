#include "server/EngineVersion.h"

namespace berth::server {

EngineVersion::EngineVersion(Read read, std::chrono::milliseconds max_age)
    : read_(std::move(read)), max_age_(max_age) {}

bool EngineVersion::fresh(int boot) const {
  return boot_ == boot && std::chrono::steady_clock::now() - read_at_ <= max_age_;
}

void EngineVersion::refresh(int boot, std::function<void()> done) {
  bool now;
  {
    std::lock_guard lock(mutex_);
    now = fresh(boot);
  }
  if (now) {
    done();  // outside the lock: it reads of()
    return;
  }
  thread_.post([this, boot, done = std::move(done)] {
    // Several statuses asked at once: the first one's reading serves the others.
    bool stale;
    {
      std::lock_guard lock(mutex_);
      stale = !fresh(boot);
    }
    if (stale) {
      const auto started = std::chrono::steady_clock::now();
      std::string version = read_();
      std::lock_guard lock(mutex_);  // released before done()
      boot_ = boot;
      version_ = std::move(version);
      read_at_ = started;
    }
    done();
  });
}

std::string EngineVersion::of(int boot) const {
  std::lock_guard lock(mutex_);
  return boot_ == boot ? version_ : "";
}

}  // namespace berth::server
