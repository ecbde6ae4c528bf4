#pragma once
// NsGuestInit: the first process of an `ns` guest (`berth ns-init GUEST_JSON`, spawned by
// NsDriver). Single-threaded by design, because it changes namespaces: it closes inherited
// descriptors, joins the guest's network namespace, makes a private (slave) mount namespace,
// bind-mounts each share at its mount point (read-only when not writable), puts the profile's
// resolv.conf in place, then execs dockerd. Returns only on failure (exit code 1, one line on
// stderr, which is dockerd.log).
#include <string>

namespace berth::vm {

class NsGuestInit {
 public:
  static int run(const std::string& guest_json_path);
};

}  // namespace berth::vm
