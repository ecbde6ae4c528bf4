#include "vm/Driver.h"

#include "vm/DockerRuntime.h"

namespace berth::vm {

std::string Driver::sshConfig() const {
  throw DriverError("berth ssh-config is for qemu profiles; use berth ssh for this " + name() +
                    " one");
}

const Runtime& Driver::runtime() const {
  static const DockerRuntime kDocker;
  return kDocker;
}

}  // namespace berth::vm
