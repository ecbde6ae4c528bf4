#include "vm/Driver.h"

namespace berth::vm {

std::string Driver::sshConfig() const {
  throw DriverError("berth ssh-config is for qemu profiles; use berth ssh for this " + name() +
                    " one");
}

}  // namespace berth::vm
