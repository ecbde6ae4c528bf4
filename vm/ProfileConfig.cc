#include "vm/ProfileConfig.h"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace berth::vm {
namespace {

std::string where(const std::string& source, const YAML::Mark& mark) {
  if (mark.is_null()) return source;
  return source + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

[[noreturn]] void fail(const std::string& source, const YAML::Node& node, const std::string& what) {
  throw ConfigError(where(source, node.Mark()) + ": " + what);
}

template <class T>
T scalar(const YAML::Node& node, const std::string& source, const std::string& key,
         const char* expected) {
  if (!node.IsScalar()) fail(source, node, key + " must be " + expected);
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    fail(source, node, key + " must be " + expected + ", not '" + node.Scalar() + "'");
  }
}

std::vector<std::string> stringList(const YAML::Node& node, const std::string& source,
                                    const std::string& key) {
  if (node.IsNull()) return {};
  if (!node.IsSequence()) fail(source, node, key + " must be a list of strings");
  std::vector<std::string> out;
  for (const auto& item : node) out.push_back(scalar<std::string>(item, source, key, "a string"));
  return out;
}

// A duration value (e.g. "30s"), checked where it stands in the file.
std::string durationScalar(const YAML::Node& node, const std::string& source,
                           const std::string& key) {
  std::string text = scalar<std::string>(node, source, key, "a duration");
  try {
    parseDurationMillis(text);
  } catch (const std::invalid_argument& e) {
    fail(source, node, e.what());
  }
  return text;
}

// `text` in milliseconds; a bad duration throws ConfigError naming `key`.
long long durationMillis(const std::string& text, const char* key) {
  try {
    return parseDurationMillis(text);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string(key) + ": " + e.what());
  }
}

void requireMap(const YAML::Node& node, const std::string& source, const std::string& key) {
  if (!node.IsMap()) fail(source, node, key + " must be a mapping (key: value lines)");
}

void checkKeys(const YAML::Node& map, const std::string& source, const std::string& section,
               const std::set<std::string>& known) {
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    if (!known.count(key)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      fail(source, kv.first, "unknown key '" + section + key + "' (known: " + list + ")");
    }
  }
}

// YAML scalars carry no type: a plain scalar that reads as a bool or number becomes one; a
// quoted scalar stays a string (so `"1.2"` is a string, as the user meant).
nlohmann::json yamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = yamlToJson(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(yamlToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() == "!") return text;
      if (text == "true" || text == "True") return true;
      if (text == "false" || text == "False") return false;
      if (text == "null" || text == "~") return nullptr;
      char* end = nullptr;
      errno = 0;
      long long i = std::strtoll(text.c_str(), &end, 10);
      if (!text.empty() && *end == '\0' && errno == 0) return i;
      double d = std::strtod(text.c_str(), &end);
      if (!text.empty() && *end == '\0') return d;
      return text;
    }
    default:
      return nullptr;
  }
}

void emitJson(YAML::Emitter& out, const nlohmann::json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : value.items()) {
      out << YAML::Key << k << YAML::Value;
      emitJson(out, v);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : value) emitJson(out, v);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    out << YAML::DoubleQuoted << value.get<std::string>();
  } else if (value.is_boolean()) {
    out << value.get<bool>();
  } else if (value.is_number_integer()) {
    out << value.get<long long>();
  } else if (value.is_number()) {
    out << value.get<double>();
  } else {
    out << YAML::Null;
  }
}

std::string expandHome(const std::string& path) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    return std::string(home ? home : "/root") + path.substr(1);
  }
  return path;
}

std::string normalPath(const std::string& path) {
  std::string out = std::filesystem::path(path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

std::string hostArch() {
  struct utsname u {};
  ::uname(&u);
  std::string machine = u.machine;
  if (machine == "arm64") return "aarch64";
  if (machine == "amd64") return "x86_64";
  return machine;
}

constexpr double kMaxDurationMillis = 1e15;

long long parseDurationMillis(const std::string& text) {
  if (text.empty() || text == "0") return 0;
  long long total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (start == i)
      throw std::invalid_argument("bad duration '" + text + "' (use e.g. 30s, 10m, 1h)");
    double number = std::stod(text.substr(start, i - start));
    std::size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else
      throw std::invalid_argument("bad duration '" + text + "' (use e.g. 30s, 10m, 1h)");
    // Converting a double beyond long long's range is undefined behaviour (the fuzzer found
    // "1h3099...9m"): refuse anything past ~31,000 years instead.
    const double sum = static_cast<double>(total) + number * scale;
    if (!(sum < kMaxDurationMillis))
      throw std::invalid_argument("duration '" + text + "' is too long");
    total = static_cast<long long>(sum);
  }
  return total;
}

ProfileConfig ProfileConfig::defaults() {
  ProfileConfig config;
  config.arch = hostArch();
  return config;
}

void ProfileConfig::mergeFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return;
    throw ConfigError("cannot read " + path + ": " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  mergeText(text.str(), path);
}

void ProfileConfig::mergeText(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(where(source, e.mark) + ": malformed YAML: " + e.msg);
  }
  if (root.IsNull()) return;  // an empty file
  requireMap(root, source, "the file");
  checkKeys(
      root, source, "",
      {"cpus", "memory", "disk", "arch", "runtime", "vmType", "mountType", "diskImage", "mounts",
       "network", "forwarding", "kubernetes", "docker", "env", "boot", "relay", "listen"});
  ProfileConfig next = *this;  // all or nothing: a bad key leaves *this unchanged
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (key == "cpus") {
      next.cpus = scalar<int>(v, source, key, "a whole number");
    } else if (key == "memory") {
      next.memory = scalar<double>(v, source, key, "a number of GiB");
    } else if (key == "disk") {
      next.disk = scalar<int>(v, source, key, "a whole number of GiB");
    } else if (key == "arch") {
      next.arch = scalar<std::string>(v, source, key, "x86_64 or aarch64");
    } else if (key == "runtime") {
      next.runtime = scalar<std::string>(v, source, key, "docker or containerd");
    } else if (key == "vmType") {
      next.vm_type = v.IsNull() ? "" : scalar<std::string>(v, source, key, "qemu or ns");
    } else if (key == "mountType") {
      next.mount_type = scalar<std::string>(v, source, key, "9p or virtiofs");
    } else if (key == "diskImage") {
      next.disk_image =
          v.IsNull() ? "" : scalar<std::string>(v, source, key, "a guest image folder");
    } else if (key == "mounts") {
      if (v.IsNull()) {
        next.mounts.reset();
        continue;
      }
      if (!v.IsSequence())
        fail(source, v, "mounts must be a list of {location, mountPoint, writable}");
      std::vector<Share> shares;
      for (const auto& item : v) {
        requireMap(item, source, "each mounts entry");
        checkKeys(item, source, "mounts[].", {"location", "mountPoint", "writable"});
        if (!item["location"]) fail(source, item, "a mounts entry needs a location");
        Share share;
        share.location =
            expandHome(scalar<std::string>(item["location"], source, "location", "a path"));
        share.mount_point = item["mountPoint"] && !item["mountPoint"].IsNull()
                                ? expandHome(scalar<std::string>(item["mountPoint"], source,
                                                                 "mountPoint", "a path"))
                                : share.location;
        share.writable = item["writable"]
                             ? scalar<bool>(item["writable"], source, "writable", "true or false")
                             : false;
        if (share.location.empty() || share.location[0] != '/') {
          fail(source, item["location"], "mount location must be an absolute path or start with ~");
        }
        if (share.mount_point.empty() || share.mount_point[0] != '/') {
          fail(source, item["mountPoint"], "mountPoint must be an absolute path");
        }
        share.location = normalPath(share.location);
        share.mount_point = normalPath(share.mount_point);
        shares.push_back(share);
      }
      next.mounts = shares;
    } else if (key == "network") {
      if (v.IsNull()) continue;
      requireMap(v, source, key);
      checkKeys(v, source, "network.", {"dns", "subnet"});
      if (v["dns"]) next.network.dns = stringList(v["dns"], source, "network.dns");
      if (v["subnet"])
        next.network.subnet = scalar<std::string>(v["subnet"], source, "network.subnet", "a CIDR");
    } else if (key == "forwarding") {
      if (v.IsNull()) continue;
      requireMap(v, source, key);
      checkKeys(v, source, "forwarding.", {"bind", "udp", "nat"});
      if (v["bind"])
        next.forwarding.bind =
            scalar<std::string>(v["bind"], source, "forwarding.bind", "loopback or mirror");
      if (v["udp"])
        next.forwarding.udp = scalar<bool>(v["udp"], source, "forwarding.udp", "true or false");
      if (v["nat"])
        next.forwarding.nat = scalar<bool>(v["nat"], source, "forwarding.nat", "true or false");
    } else if (key == "kubernetes") {
      if (v.IsNull()) continue;
      requireMap(v, source, key);
      checkKeys(v, source, "kubernetes.", {"enabled", "version", "k3sArgs"});
      if (v["enabled"])
        next.kubernetes.enabled =
            scalar<bool>(v["enabled"], source, "kubernetes.enabled", "true or false");
      if (v["version"])
        next.kubernetes.version =
            scalar<std::string>(v["version"], source, "kubernetes.version", "a version");
      if (v["k3sArgs"])
        next.kubernetes.k3s_args = stringList(v["k3sArgs"], source, "kubernetes.k3sArgs");
    } else if (key == "docker") {
      if (v.IsNull()) {
        next.docker = nlohmann::json::object();
        continue;
      }
      requireMap(v, source, key);
      next.docker = yamlToJson(v);
    } else if (key == "env") {
      if (v.IsNull()) {
        next.env.clear();
        continue;
      }
      requireMap(v, source, key);
      next.env.clear();
      for (const auto& e : v) {
        next.env[e.first.as<std::string>()] =
            scalar<std::string>(e.second, source, "env value", "a string");
      }
    } else if (key == "boot") {
      if (v.IsNull()) continue;
      requireMap(v, source, key);
      checkKeys(v, source, "boot.", {"lazy", "idleStop"});
      if (v["lazy"]) next.boot.lazy = scalar<bool>(v["lazy"], source, "boot.lazy", "true or false");
      if (v["idleStop"]) {
        next.boot.idle_stop =
            v["idleStop"].IsNull() ? "" : durationScalar(v["idleStop"], source, "boot.idleStop");
      }
    } else if (key == "relay") {
      if (v.IsNull()) continue;
      requireMap(v, source, key);
      checkKeys(v, source, "relay.", {"spinMicros", "maxConnections", "headTimeout"});
      if (v["spinMicros"])
        next.relay.spin_micros =
            scalar<int>(v["spinMicros"], source, "relay.spinMicros", "a whole number");
      if (v["maxConnections"])
        next.relay.max_connections =
            scalar<int>(v["maxConnections"], source, "relay.maxConnections", "a whole number");
      if (v["headTimeout"])
        next.relay.head_timeout = durationScalar(v["headTimeout"], source, "relay.headTimeout");
    } else if (key == "listen") {
      next.listen = stringList(v, source, "listen");
    }
  }
  try {
    next.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": " + e.what());
  }
  *this = std::move(next);
}

void ProfileConfig::validate() const {
  if (cpus < 1 || cpus > 1024) throw ConfigError("cpus must be between 1 and 1024");
  if (memory <= 0) throw ConfigError("memory must be a positive number of GiB");
  if (disk < 1) throw ConfigError("disk must be at least 1 GiB");
  if (arch != "x86_64" && arch != "aarch64")
    throw ConfigError("arch must be x86_64 or aarch64, not '" + arch + "'");
  if (runtime != "docker" && runtime != "containerd") {
    throw ConfigError("runtime must be docker or containerd, not '" + runtime + "'");
  }
  if (!vm_type.empty() && vm_type != "qemu" && vm_type != "ns") {
    throw ConfigError("vmType must be qemu or ns, not '" + vm_type + "'");
  }
  if (mount_type != "9p" && mount_type != "virtiofs") {
    throw ConfigError("mountType must be 9p or virtiofs, not '" + mount_type + "'");
  }
  if (forwarding.bind != "loopback" && forwarding.bind != "mirror") {
    throw ConfigError("forwarding.bind must be loopback or mirror, not '" + forwarding.bind + "'");
  }
  durationMillis(boot.idle_stop, "boot.idleStop");
  if (relay.spin_micros < 0 || relay.spin_micros > 10000)
    throw ConfigError("relay.spinMicros must be between 0 and 10000");
  if (relay.max_connections < 1 || relay.max_connections > 1000000)
    throw ConfigError("relay.maxConnections must be between 1 and 1000000");
  if (relayHeadTimeoutMillis() < 1000)
    throw ConfigError("relay.headTimeout must be at least 1s, not '" + relay.head_timeout + "'");
}

long long ProfileConfig::relayHeadTimeoutMillis() const {
  return durationMillis(relay.head_timeout, "relay.headTimeout");
}

std::string ProfileConfig::toYaml() const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "cpus" << YAML::Value << cpus;
  out << YAML::Key << "memory" << YAML::Value << memory;
  out << YAML::Key << "disk" << YAML::Value << disk;
  out << YAML::Key << "arch" << YAML::Value << arch;
  out << YAML::Key << "runtime" << YAML::Value << runtime;
  out << YAML::Key << "vmType" << YAML::Value << vm_type;
  out << YAML::Key << "mountType" << YAML::Value << mount_type;
  out << YAML::Key << "diskImage" << YAML::Value << disk_image;
  out << YAML::Key << "mounts" << YAML::Value;
  if (!mounts) {
    out << YAML::Null << YAML::Comment("unset: your home folder, writable");
  } else {
    out << YAML::BeginSeq;
    for (const auto& share : *mounts) {
      out << YAML::BeginMap << YAML::Key << "location" << YAML::Value << share.location << YAML::Key
          << "mountPoint" << YAML::Value << share.mount_point << YAML::Key << "writable"
          << YAML::Value << share.writable << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::Key << "network" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "dns" << YAML::Value << YAML::Flow << network.dns;
  out << YAML::Key << "subnet" << YAML::Value << network.subnet;
  out << YAML::EndMap;
  out << YAML::Key << "forwarding" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "bind" << YAML::Value << forwarding.bind;
  out << YAML::Key << "udp" << YAML::Value << forwarding.udp;
  out << YAML::Key << "nat" << YAML::Value << forwarding.nat;
  out << YAML::EndMap;
  out << YAML::Key << "kubernetes" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "enabled" << YAML::Value << kubernetes.enabled;
  out << YAML::Key << "version" << YAML::Value << kubernetes.version;
  out << YAML::Key << "k3sArgs" << YAML::Value << YAML::Flow << kubernetes.k3s_args;
  out << YAML::EndMap;
  out << YAML::Key << "docker" << YAML::Value;
  if (docker.empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
  } else {
    emitJson(out, docker);
  }
  out << YAML::Key << "env" << YAML::Value;
  if (env.empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
  } else {
    out << YAML::BeginMap;
    for (const auto& [k, v] : env) out << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
    out << YAML::EndMap;
  }
  out << YAML::Key << "boot" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "lazy" << YAML::Value << boot.lazy;
  out << YAML::Key << "idleStop" << YAML::Value << YAML::DoubleQuoted << boot.idle_stop;
  out << YAML::EndMap;
  out << YAML::Key << "relay" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "spinMicros" << YAML::Value << relay.spin_micros;
  out << YAML::Key << "maxConnections" << YAML::Value << relay.max_connections;
  out << YAML::Key << "headTimeout" << YAML::Value << YAML::DoubleQuoted << relay.head_timeout;
  out << YAML::EndMap;
  out << YAML::Key << "listen" << YAML::Value << YAML::Flow << listen;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

void ProfileConfig::save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw ConfigError("cannot write " + tmp + ": " + std::strerror(errno));
    out << "# berth profile settings (berth start flags override them; see berth template)\n"
        << toYaml();
    if (!out.flush()) throw ConfigError("cannot write " + tmp + ": " + std::strerror(errno));
  }
  ::chmod(tmp.c_str(), 0600);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw ConfigError("cannot write " + path + ": " + std::strerror(errno));
  }
}

nlohmann::json ProfileConfig::toJson() const {
  const nlohmann::json mounts_json = sharesJson(effectiveMounts());
  return {
      {"cpus", cpus},
      {"memory", memory},
      {"disk", disk},
      {"arch", arch},
      {"runtime", runtime},
      {"vmType", vm_type},
      {"mountType", mount_type},
      {"diskImage", disk_image},
      {"mounts", mounts_json},
      {"network", {{"dns", network.dns}, {"subnet", network.subnet}}},
      {"forwarding", {{"bind", forwarding.bind}, {"udp", forwarding.udp}, {"nat", forwarding.nat}}},
      {"kubernetes",
       {{"enabled", kubernetes.enabled},
        {"version", kubernetes.version},
        {"k3sArgs", kubernetes.k3s_args}}},
      {"docker", docker},
      {"env", env},
      {"boot", {{"lazy", boot.lazy}, {"idleStop", boot.idle_stop}}},
      {"relay",
       {{"spinMicros", relay.spin_micros},
        {"maxConnections", relay.max_connections},
        {"headTimeout", relay.head_timeout}}},
      {"listen", listen}};
}

nlohmann::json ProfileConfig::sharesJson(const std::vector<Share>& shares) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& share : shares) {
    out.push_back({{"location", share.location},
                   {"mountPoint", share.mount_point},
                   {"writable", share.writable}});
  }
  return out;
}

std::vector<Share> ProfileConfig::effectiveMounts() const {
  if (mounts) return *mounts;
  const std::string home = expandHome("~");
  return {Share{home, home, true}};
}

long long ProfileConfig::idleStopMillis() const {
  return durationMillis(boot.idle_stop, "boot.idleStop");
}

void ProfileConfig::checkImmutable(const ProfileConfig& existing, const ProfileConfig& wanted,
                                   const std::string& profile) {
  struct Fixed {
    const char* key;
    const char* flag;
    const std::string& was;
    const std::string& now;
  };
  const Fixed fixed[] = {{"arch", "--arch", existing.arch, wanted.arch},
                         {"vmType", "--vm-type", existing.vm_type, wanted.vm_type},
                         {"runtime", "--runtime", existing.runtime, wanted.runtime}};
  for (const auto& f : fixed) {
    if (!f.was.empty() && f.was != f.now) {
      throw ConfigError(std::string(f.key) + " of profile '" + profile + "' is " + f.was +
                        " and cannot change after creation (asked: " + f.now + "); drop " + f.flag +
                        ", or use another profile (berth start -p NAME " + f.flag + " " + f.now +
                        "), or delete this one first (berth delete " + profile + ")");
    }
  }
}

}  // namespace berth::vm
