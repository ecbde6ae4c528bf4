#include "vm/DriverFactory.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vm/NsDriver.h"
#include "vm/QemuDriver.h"

namespace berth::vm {

std::unique_ptr<Driver> DriverFactory::makeDriver(const ProfileConfig& config,
                                                  const ProfilePaths& paths) {
  const std::string type = config.vm_type.empty() ? defaultVmType() : config.vm_type;
  if (type == "ns") return std::make_unique<NsDriver>(config, paths);
  if (type == "qemu") return std::make_unique<QemuDriver>(QemuDriver::optionsFor(config, paths));
  throw DriverError("unknown vmType '" + type + "': use qemu or ns");
}

std::unique_ptr<Driver> DriverFactory::makeExternal(ExternalEngine engine) {
  return std::make_unique<ExternalDriver>(std::move(engine));
}

bool DriverFactory::hypervisorUsable() {
  // A paravirtual KVM (kvm_pvm, in some sandboxes) answers KVM_CREATE_VM but boots only
  // PVM-aware kernels: a stock guest also needs VT-x/AMD-V.
  if (!QemuDriver::hardwareVirtualization()) return false;
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
