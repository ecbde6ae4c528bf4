#pragma once
// SocketHandover: makes a unix socket path that berth listens on name another listening socket
// for a while, so that new clients reach that listener with no relay in between, and name
// berth's own socket again later. A path names a socket's inode, and connect(2) reaches whichever
// socket is bound to the inode the path names; so a hand-over is a hard link of the target's
// socket file renamed over the path, and berth's own socket stays reachable under a reserve
// name (`.<name>.berth` beside it) to be renamed back. Each swap is one rename(2): a client
// connecting at that moment reaches one listener or the other, never no socket at all.
// Connections already accepted by either side run on untouched. Both sockets must be on one
// filesystem (hard links); the path is made mode 0600 whichever socket it names.
// Thread-safe: any thread may call any member.
#include <sys/stat.h>

#include <mutex>
#include <string>

namespace berth::server {

class SocketHandover {
 public:
  // `path`: berth's own listening socket, already bound (remember() is then called once).
  explicit SocketHandover(std::string path);

  // Links berth's socket under the reserve name; throws std::runtime_error with one line.
  void remember();
  // From now on `path` names the socket file `target` (a listening unix socket). Does nothing
  // when it already does. false (the reason in `why`) when it cannot: `path` stays as it was.
  bool handTo(const std::string& target, std::string& why);
  // `path` names berth's own socket again (nothing to do when it does). false: see `why`.
  bool takeBack(std::string& why);
  // true while `path` names some socket other than berth's own.
  bool handedOver() const;
  // Removes the reserve name (the listener is closing; `path` is its owner's to remove).
  void forget();

  // A socket file left at `path` by a daemon that died while it was handed to `target`: the
  // same inode as `target`. It must go before berth binds `path` again.
  static bool isHandedTo(const std::string& path, const std::string& target);

 private:
  // path_ names `source` (whose lstat is `source_stat`) from now on: nothing to do when it
  // already does, else a link of `source` renamed over path_.
  bool nameIt(const std::string& source, const struct stat& source_stat, std::string& why);

  std::string path_;
  std::string reserve_;  // berth's own socket's second name
  std::string staging_;  // where a new link waits for its rename over path_
  mutable std::mutex mutex_;
};

}  // namespace berth::server
