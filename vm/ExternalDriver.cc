#include "vm/ExternalDriver.h"

namespace berth::vm {

void ExternalDriver::start(const ProgressSink& progress) {
  progress("relaying to the engine at " + engine_.unix_path);
  started_ = true;
}

void ExternalDriver::stop(bool /*force*/) { started_ = false; }

GuestStatus ExternalDriver::status() const {
  return {started_ ? GuestState::Running : GuestState::Stopped, ""};
}

EngineEndpoint ExternalDriver::engine() const {
  EngineEndpoint endpoint;
  endpoint.kind = EngineEndpoint::Kind::Unix;
  endpoint.unix_path = engine_.unix_path;
  return endpoint;
}

std::vector<std::string> ExternalDriver::shellArgv(const std::vector<std::string>& /*command*/,
                                                   bool /*tty*/) const {
  throw DriverError("the engine at " + engine_.unix_path +
                    " is not berth's guest: berth has no shell into it");
}

}  // namespace berth::vm
