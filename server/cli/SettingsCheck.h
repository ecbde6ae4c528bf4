#pragma once
// SettingsCheck: what `berth start` and `berth mount add` check before they save a profile's
// settings, beyond the values' own rules (ProfileConfig::validate): listen addresses parse,
// every shared host folder exists and nerdctl.binary is an executable file. Throws
// std::runtime_error with one line; stateless, thread-safe.
#include "vm/ProfileConfig.h"

namespace berth::cli {

class SettingsCheck {
 public:
  static void beforeSave(const vm::ProfileConfig& config);
  // One share's host folder exists and is a directory; `how` names where the share came from.
  static void shareExists(const vm::Share& share, const std::string& how);
};

}  // namespace berth::cli
