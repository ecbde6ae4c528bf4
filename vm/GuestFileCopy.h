#pragma once
// GuestFileCopy: puts a host file into a VM guest at a fixed path, mode 0755, over one command
// run in the guest (the profile's ssh), unless the guest's file already has the host file's
// size and SHA-256: a re-boot or a resume sends nothing. The guest compares first and reads
// the bytes (the command's stdin) only when they differ; the copy is checked against the
// SHA-256 before it replaces the old file (never a half-written binary at `guest_path`).
// Blocking; stateless; thread-safe.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace berth::vm {

class GuestFileCopy {
 public:
  // The argv that runs `words` in the guest, each word reaching it as given.
  using Exec = std::function<std::vector<std::string>(const std::vector<std::string>& words)>;
  enum class Outcome { Kept, Copied };

  // Throws DriverError (the host file cannot be read, the guest command failed: its output).
  static Outcome install(const Exec& exec, const std::string& host_file,
                         const std::string& guest_path, std::chrono::milliseconds timeout);
  // Removes `guest_path` in the guest (absent is fine); throws DriverError when it fails.
  static void remove(const Exec& exec, const std::string& guest_path,
                     std::chrono::milliseconds timeout);
};

}  // namespace berth::vm
