#pragma once
// Share: a host folder shared into the guest, as the mount filter translates it and a driver
// mounts it (vm::Share is this type). Plain data.
#include <string>

namespace berth::api {

struct Share {
  std::string location;     // absolute host path
  std::string mount_point;  // absolute guest path
  bool writable = true;
};

}  // namespace berth::api
