#pragma once
// DriverFactory: the one place that names concrete drivers. Builds the Driver for a profile by
// its vmType ("ns", "qemu"), or for an engine that already runs (`berth daemon --upstream`),
// and chooses the default vmType for this machine (qemu where a hypervisor is usable, else ns
// on Linux). A new driver plugs in by adding one branch to makeDriver(). Thread-safe.
#include <memory>
#include <string>

#include "vm/Driver.h"
#include "vm/ExternalDriver.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::vm {

class DriverFactory {
 public:
  // Throws DriverError for an unknown vmType or a driver this build cannot run.
  static std::unique_ptr<Driver> makeDriver(const ProfileConfig& config, const ProfilePaths& paths);
  // The driver for an engine berth does not run (start/stop only change the reported state).
  static std::unique_ptr<Driver> makeExternal(ExternalEngine engine);
  // "qemu" when hypervisorUsable(), else "ns".
  static std::string defaultVmType();
  // True when QEMU can use hardware acceleration here: HVF, or KVM with VT-x/AMD-V whose
  // /dev/kvm answers KVM_CREATE_VM.
  static bool hypervisorUsable();
};

}  // namespace berth::vm
