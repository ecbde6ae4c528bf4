#pragma once
// GuestPackageUpdate: moves one Debian package of a running VM guest (its engine: docker.io or
// containerd) to the version the guest's own apt sources offer, through the driver's shell
// access (ssh), and restarts the package's systemd service. It knows apt and systemd, not the
// engine's API: the caller checks that the engine answers afterwards. Every call blocks for as
// long as apt takes (minutes under TCG) and reports a line every half minute; not thread-safe.
// Failures throw DriverError with one line: what failed and the last line apt (or ssh) printed.
#include <chrono>
#include <string>

#include "vm/Driver.h"

namespace berth::vm {

// Versions of one package as `apt-cache policy` states them.
struct PackageVersions {
  std::string installed;  // "" when it is not installed
  std::string candidate;  // "" when no source offers it
  bool upToDate() const { return !candidate.empty() && installed == candidate; }
};

class GuestPackageUpdate {
 public:
  // `driver` is the profile's driver (only its shellArgv is used); `service` is the systemd
  // unit that runs the package's program in the guest.
  GuestPackageUpdate(const Driver& driver, std::string package, std::string service);

  // The versions in `apt-cache policy PACKAGE` output (LC_ALL=C); "(none)" reads as "".
  // Throws DriverError when the output does not describe `package`.
  static PackageVersions parsePolicy(const std::string& package, const std::string& output);
  // The upstream part of a Debian version, which is what the program itself reports: no epoch,
  // no Debian revision ("1:20.10.24+dfsg1-1+b3" -> "20.10.24+dfsg1").
  static std::string upstreamVersion(const std::string& version);

  // Refreshes the guest's package lists (apt-get update; a source that fails is an error) and
  // returns the installed and candidate versions. Changes no installed package.
  PackageVersions check(const ProgressSink& progress) const;
  // Installs `version` of the package (noninteractive; changed config files are kept), restarts
  // the service and waits until systemd says it is active. Returns the version dpkg then has.
  std::string install(const std::string& version, const ProgressSink& progress) const;

 private:
  // Runs `script` in the guest's shell; returns its output; throws DriverError("<what> failed
  // in the guest: <last line>") unless it exits 0.
  std::string inGuest(const std::string& script, const std::string& what,
                      std::chrono::seconds timeout, const ProgressSink& progress) const;

  const Driver& driver_;
  std::string package_;
  std::string service_;
};

}  // namespace berth::vm
