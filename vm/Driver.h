#pragma once
// Driver: the seam between berth and one profile's guest (a VM, a namespace sandbox, or an
// engine that already runs). It boots and stops the guest and says how the host reaches it:
// the engine endpoint, the guest address, who opens published ports, the argv for
// `berth ssh`, and how a guest orphaned by a killed daemon is found. The daemon receives its
// Driver (DriverFactory picks it); neither it nor the CLI names a concrete driver.
// Control-plane code: calls block and may take minutes (start), so the daemon calls them from
// a worker thread, never from the io_context. Calls are serialised by the caller (not
// thread-safe), except status(), which may be called at any time, and the const queries that
// read only files (shellArgv, sshConfig), which the CLI uses on a driver it never started.
// Failures throw DriverError with one clear line for the user (what failed, what to do).
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/Share.h"
#include "server/net/Connector.h"
#include "vm/PortOpener.h"

namespace berth::vm {

class Runtime;

class DriverError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A host folder shared into the guest.
using Share = api::Share;

// How to reach the guest's engine from the host.
struct EngineEndpoint {
  enum class Kind { Unix, TlsTcp };
  Kind kind = Kind::Unix;
  std::string unix_path;  // Kind::Unix
  std::string host;       // Kind::TlsTcp (host loopback end of a forwarded port)
  std::uint16_t port = 0;
  std::string ca_file, cert_file, key_file;  // client side of the engine's mutual TLS
};

enum class GuestState { Stopped, Starting, Running, Stopping, Broken };

struct GuestStatus {
  GuestState state = GuestState::Stopped;
  std::string detail;  // e.g. "dockerd restarting (attempt 3)", "qemu exited with 1"
};

// Connects the host to TCP addresses only the guest routes (its containers' own addresses, its
// loopback), for drivers whose guest has no network namespace berth can enter (a VM).
class GuestDialer {
 public:
  virtual ~GuestDialer() = default;
  // Readies the path for the guest that just came up (blocking: from the thread that starts
  // the guest, after start()); throws DriverError with why it cannot.
  virtual void ready() = 0;
  // A connector to address:port in the guest, for as long as this boot runs. Does not block;
  // thread-safe.
  virtual net::ConnectorPtr connector(const boost::asio::ip::tcp::endpoint& target,
                                      const std::string& description) const = 0;
};

// Receives one line per boot phase ("kernel up 12.1s") for the CLI's progress and the log.
using ProgressSink = std::function<void(const std::string& line)>;

class Driver {
 public:
  virtual ~Driver() = default;

  virtual std::string name() const = 0;  // "ns", "qemu", "external"
  // Boots the guest until its engine answers a real request; throws DriverError.
  virtual void start(const ProgressSink& progress) = 0;
  // Stops the guest: graceful within a timeout, then killed; `force` kills at once.
  virtual void stop(bool force) = 0;
  virtual GuestStatus status() const = 0;
  // Valid once start() returned.
  virtual EngineEndpoint engine() const = 0;
  // The engine's own socket as containers in the guest see it (what a bind of
  // /var/run/docker.sock gets); known before start().
  virtual std::string guestEngineSocket() const = 0;
  // Who opens published ports on the host: the driver's opener (qemu: QEMU's hostfwd), or
  // null when berth relays them to guestAddress() itself. Owned by the driver.
  virtual PortOpener* portOpener() { return nullptr; }
  // Address on which published container ports are reachable from the host (veth address,
  // or "" when the driver forwards ports itself, e.g. qemu's hostfwd).
  virtual std::string guestAddress() const = 0;
  // A network namespace file berth can enter to reach the guest's own loopback (ns driver), or
  // "" when the guest is a VM.
  virtual std::string guestNetworkNamespace() const { return {}; }
  // How the host reaches addresses inside a guest that has no such namespace (qemu: over the
  // profile's ssh), or null. Owned by the driver; known before start().
  virtual GuestDialer* guestDialer() { return nullptr; }
  virtual std::vector<Share> shares() const = 0;
  // Guest TCP ports that the guest's own services listen on (sshd, the engine's TCP port):
  // never forwarded as ports a user's process listens on.
  virtual std::vector<std::uint16_t> guestServicePorts() const { return {}; }

  // The argv that runs `command` (a login shell when empty) inside the guest, `tty` when the
  // caller has a terminal. Reads only files: works while the daemon runs, on a driver that was
  // never started. Throws DriverError when the guest is not running or has no shell access.
  virtual std::vector<std::string> shellArgv(const std::vector<std::string>& command,
                                             bool tty) const = 0;
  // Like shellArgv, for one program and its arguments: each word reaches it as given (no shell
  // in between re-splits or expands it).
  virtual std::vector<std::string> execArgv(const std::vector<std::string>& words, bool tty) const {
    return shellArgv(words, tty);
  }
  // True when the guest runs the host's own programs (ns: the host's mount namespace, plus
  // shares): a program's host path is its guest path. A VM guest runs its image's.
  virtual bool runsHostPrograms() const { return false; }
  // An ssh_config block for the guest; throws DriverError for drivers without ssh.
  virtual std::string sshConfig() const;
  // A guest left running by a daemon that was killed (found from files and processes only).
  virtual bool orphanRunning() const { return false; }
  // The engine version the next boot runs when the host decides it (ns: the host's installed
  // dockerd, so `berth update` is a restart onto it); "" when the guest's own packages decide
  // it. Runs a program: blocking. Throws DriverError when that engine is missing.
  virtual std::string hostEngineVersion() const { return {}; }
  // Which engine the guest runs (docker unless the driver was given another runtime).
  virtual const Runtime& runtime() const;
};

}  // namespace berth::vm
