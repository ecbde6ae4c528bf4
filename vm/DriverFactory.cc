#include "vm/DriverFactory.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vm/NsDriver.h"

namespace berth::vm {

std::unique_ptr<Driver> DriverFactory::makeDriver(const ProfileConfig& config,
                                                  const ProfilePaths& paths) {
  const std::string type = config.vm_type.empty() ? defaultVmType() : config.vm_type;
  if (type == "ns") return std::make_unique<NsDriver>(config, paths);
  if (type == "qemu") {
    // The qemu driver (issue 5) plugs in here: return std::make_unique<QemuDriver>(config, paths);
    throw DriverError(
        "the qemu driver is not available yet in this build; use --vm-type ns "
        "(a new profile: berth start -p NAME --vm-type ns)");
  }
  throw DriverError("unknown vmType '" + type + "': use qemu or ns");
}

bool DriverFactory::hypervisorUsable() {
  int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return false;
  bool usable = ::ioctl(kvm, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
  if (usable) {
    int vm = ::ioctl(kvm, KVM_CREATE_VM, 0);
    usable = vm >= 0;
    if (vm >= 0) ::close(vm);
  }
  ::close(kvm);
  return usable;
}

std::string DriverFactory::defaultVmType() { return hypervisorUsable() ? "qemu" : "ns"; }

}  // namespace berth::vm
