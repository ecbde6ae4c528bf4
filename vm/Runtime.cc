#include "vm/Runtime.h"

#include "vm/ContainerdRuntime.h"
#include "vm/DockerRuntime.h"

namespace berth::vm {

std::unique_ptr<Runtime> Runtime::make(const std::string& name) {
  if (name == "docker" || name.empty()) return std::make_unique<DockerRuntime>();
  if (name == "containerd") return std::make_unique<ContainerdRuntime>();
  throw DriverError("unknown runtime '" + name + "': use docker or containerd");
}

}  // namespace berth::vm
