// Fuzz target: the berth.yaml loader (vm::ProfileConfig::mergeText, yaml-cpp underneath) on
// arbitrary text, then validate, save and load again. Bad input may throw (ConfigError, or an
// exception that reaches the command boundary as one line); what fails the target is a
// crash, a sanitizer report, a leak or a hang.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "vm/ProfileConfig.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using berth::vm::ProfileConfig;
  const std::string text(reinterpret_cast<const char*>(data), size);
  ProfileConfig config = ProfileConfig::defaults();
  try {
    config.mergeText(text, "fuzz.yaml");
    config.validate();
    (void)config.idleStopMillis();
    (void)config.toJson();
    ProfileConfig again = ProfileConfig::defaults();
    again.mergeText(config.toYaml(), "round-trip.yaml");
  } catch (const std::exception&) {
    return 0;
  }
  return 0;
}
