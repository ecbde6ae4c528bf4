#pragma once
// NsGuestInit: `berth ns-init GUEST_JSON`, spawned by NsDriver for every dockerd of an `ns`
// guest. The guest's namespaces belong to a holder process (comm "berth-guest"), not to any one
// dockerd, so a dockerd restarted after a crash lives where its live-restored containers live.
// The first run makes the holder: it joins the guest's network namespace, makes a private
// (slave) mount namespace, bind-mounts each share (read-only when not writable), the runtime's
// private directories (Runtime::nsBinds) and the profile's resolv.conf, and leaves a detached
// holder there; later runs enter the holder's namespaces. Then it execs the engine. Single-threaded
// by design (it changes namespaces); returns only on failure (exit code 1, one line on stderr,
// which is dockerd.log).
#include <string>

namespace berth::vm {

class NsGuestInit {
 public:
  static int run(const std::string& guest_json_path);
  // Pid of the live holder named in `pid_file` whose network namespace is `netns_path`, or 0.
  // Reads only /proc and files: usable from the CLI.
  static int holderPid(const std::string& pid_file, const std::string& netns_path);
};

}  // namespace berth::vm
