#pragma once
// Kubeconfig: berth's entries in the user's kubeconfig, in kubectl's own format. merge() takes
// k3s's admin kubeconfig, points its server at the host address and stores its cluster, user
// and context under one name (`berth`, `berth-<p>`), replacing only entries of that name;
// remove() takes exactly those entries out. Every other entry and key is kept (comments are
// not: yaml-cpp drops them). Writes are atomic, mode 0600. Throws std::runtime_error with one
// line. Blocking file I/O; not thread-safe (one file, no lock against another writer).
#include <string>

namespace berth::vm {

class Kubeconfig {
 public:
  // The file kubectl writes to: the first non-empty entry of $KUBECONFIG (':'-separated), else
  // $HOME/.kube/config.
  static std::string userFile();

  // k3s's admin kubeconfig (`admin_yaml`, one cluster/user/context) rewritten for the host:
  // server `server` (https://127.0.0.1:PORT), every entry named `name`, current-context `name`.
  static std::string standalone(const std::string& admin_yaml, const std::string& name,
                                const std::string& server);

  // Merges standalone(...) into `file` (created with its folder when missing), replacing the
  // cluster, user and context called `name`; with `activate` (or when the file has no current
  // context) it becomes current-context.
  static void merge(const std::string& file, const std::string& admin_yaml, const std::string& name,
                    const std::string& server, bool activate);

  // Removes the cluster, user and context called `name` from `file`; a current-context of
  // `name` is cleared. Returns true when anything was removed; a missing file: false.
  static bool remove(const std::string& file, const std::string& name);

  // The current-context of `file`; "" when none or no file.
  static std::string currentContext(const std::string& file);
};

}  // namespace berth::vm
