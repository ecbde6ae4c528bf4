#include "vm/QemuBootRecord.h"

#include <nlohmann/json.hpp>

#include "server/net/Files.h"

namespace berth::vm {

void QemuBootRecord::save(const std::string& path) const {
  const nlohmann::json record = {{"settings", settings}, {"stateKey", state_key},
                                 {"accel", accel},       {"virtiofsd", virtiofsd},
                                 {"sshPort", ssh_port},  {"enginePort", engine_port}};
  net::Files::writeAtomic(path, record.dump() + "\n", 0600);
}

std::optional<QemuBootRecord> QemuBootRecord::load(const std::string& path) {
  const auto parsed = nlohmann::json::parse(net::Files::readOr(path), nullptr, false);
  if (!parsed.is_object()) return std::nullopt;
  QemuBootRecord record;
  try {
    record.settings = parsed.value("settings", "");
    record.state_key = parsed.value("stateKey", "");
    record.accel = parsed.value("accel", "");
    record.virtiofsd = parsed.value("virtiofsd", "");
    record.ssh_port = parsed.value("sshPort", std::uint16_t{0});
    record.engine_port = parsed.value("enginePort", std::uint16_t{0});
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // a field of the wrong type: not a record this driver wrote
  }
  if (record.settings.empty() || record.ssh_port == 0) return std::nullopt;
  return record;
}

}  // namespace berth::vm
