#include "vm/ProfileConfig.h"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>

#include "server/net/Files.h"

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
         const std::string& expected) {
  if (!node.IsScalar()) fail(source, node, key + " must be " + expected);
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    fail(source, node, key + " must be " + expected + ", not '" + node.Scalar() + "'");
  }
}

std::string keyName(const YAML::Node& node, const std::string& source) {
  if (!node.IsScalar()) fail(source, node, "a key must be a plain name");
  return node.Scalar();
}

void requireMap(const YAML::Node& node, const std::string& source, const std::string& key) {
  if (!node.IsMap()) fail(source, node, key + " must be a mapping (key: value lines)");
}

// A YAML value read into a C++ value of the key's type; `expected` says what it must be.
void readValue(int& out, const YAML::Node& v, const std::string& source, const std::string& key,
               const std::string& expected) {
  out = scalar<int>(v, source, key, expected);
}
void readValue(double& out, const YAML::Node& v, const std::string& source, const std::string& key,
               const std::string& expected) {
  out = scalar<double>(v, source, key, expected);
}
void readValue(bool& out, const YAML::Node& v, const std::string& source, const std::string& key,
               const std::string& expected) {
  out = scalar<bool>(v, source, key, expected);
}
void readValue(std::string& out, const YAML::Node& v, const std::string& source,
               const std::string& key, const std::string& expected) {
  out = v.IsNull() ? "" : scalar<std::string>(v, source, key, expected);
}
void readValue(std::vector<std::string>& out, const YAML::Node& v, const std::string& source,
               const std::string& key, const std::string&) {
  out.clear();
  if (v.IsNull()) return;
  if (!v.IsSequence()) fail(source, v, key + " must be a list of strings");
  for (const auto& item : v) out.push_back(scalar<std::string>(item, source, key, "a string"));
}

std::string shown(const std::string& value) { return value; }
std::string shown(bool value) { return value ? "true" : "false"; }
std::string shown(const std::vector<std::string>& value) { return nlohmann::json(value).dump(); }
template <class T>
std::string shown(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

bool isDuration(const std::string& text) {
  try {
    parseDurationMillis(text);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

// `text` in milliseconds; a bad duration throws ConfigError naming `key`.
long long durationMillis(const std::string& text, const char* key) {
  try {
    return parseDurationMillis(text);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string(key) + ": " + e.what());
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

// YAML scalars carry no type: a plain scalar that reads as a bool or number becomes one; a
// quoted scalar stays a string (so `"1.2"` is a string, as the user meant).
nlohmann::json plainScalar(const std::string& text) {
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

// Deeper than any daemon.json setting goes; a YAML alias may also name the node it is in
// (`a: &x [*x]`), a cycle that would otherwise recurse until the stack overflows (fuzzing
// found it).
constexpr int kMaxDepth = 32;

nlohmann::json yamlToJson(const YAML::Node& node, const std::string& source, int depth = 0) {
  if (depth > kMaxDepth) {
    fail(source, node,
         "nests deeper than " + std::to_string(kMaxDepth) +
             " levels (or an alias refers to a node that holds it)");
  }
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node)
        out[keyName(kv.first, source)] = yamlToJson(kv.second, source, depth + 1);
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(yamlToJson(item, source, depth + 1));
      return out;
    }
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") return node.Scalar();
      return plainScalar(node.Scalar());
    default:
      return nullptr;
  }
}

void emitJson(YAML::Emitter& out, const nlohmann::json& value) {
  if (value.is_object()) {
    if (value.empty()) out << YAML::Flow;
    out << YAML::BeginMap;
    for (const auto& [k, v] : value.items()) {
      out << YAML::Key << k << YAML::Value;
      emitJson(out, v);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    // A list of scalars on one line (`dns: [1.1.1.1]`), a list of mappings as a block.
    bool scalars = true;
    for (const auto& v : value) scalars = scalars && v.is_primitive();
    if (scalars) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& v : value) emitJson(out, v);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    // Quoted only when a plain scalar would read back as something else ("", "007", "true").
    const std::string& text = value.get_ref<const std::string&>();
    if (!plainScalar(text).is_string() || text.empty()) out << YAML::DoubleQuoted;
    out << text;
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

// One berth.yaml key, and the only place that names it: where it sits (`section` "" for the
// top level), how a YAML value is read into the config, how the config's value is written (as
// JSON; the YAML file is emitted from it), and the check of its value ("" when fine).
struct Key {
  std::string section;
  std::string name;
  std::function<void(ProfileConfig&, const YAML::Node&, const std::string& source)> read;
  std::function<nlohmann::json(const ProfileConfig&)> write;
  std::function<std::string(const ProfileConfig&)> check;
  const char* null_note = nullptr;        // a comment written beside a null value in the file
  std::vector<std::string> choices = {};  // the fixed set of values it takes, when it has one

  std::string path() const { return section.empty() ? name : section + "." + name; }
};

// A key holding one typed value, reached by `get` (a generic lambda returning a reference into
// the config), that must satisfy `ok`; `expected` says what the value must be, in errors.
template <class Get, class Ok>
Key typed(std::string section, std::string name, const std::string& expected, Get get,
          const Ok& ok) {
  Key key{std::move(section), std::move(name), {}, {}, {}};
  const std::string path = key.path();
  key.check = [=](const ProfileConfig& c) -> std::string {
    const auto& value = get(c);
    return ok(value) ? "" : path + " must be " + expected + ", not '" + shown(value) + "'";
  };
  key.read = [=, check = key.check](ProfileConfig& c, const YAML::Node& v,
                                    const std::string& source) {
    readValue(get(c), v, source, path, expected);
    if (auto why = check(c); !why.empty()) fail(source, v, why);
  };
  key.write = [=](const ProfileConfig& c) { return nlohmann::json(get(c)); };
  return key;
}

template <class Get>
Key typed(std::string section, std::string name, const std::string& expected, Get get) {
  return typed(std::move(section), std::move(name), expected, get,
               [](const auto&) { return true; });
}

auto oneOf(std::initializer_list<const char*> allowed, bool empty_ok = false) {
  std::vector<std::string> list(allowed.begin(), allowed.end());
  return [list, empty_ok](const std::string& v) {
    return (empty_ok && v.empty()) || std::find(list.begin(), list.end(), v) != list.end();
  };
}

// A key taking one of a fixed set of strings; `choices` is what the CLI's flags and their
// completions offer (ProfileConfig::choices).
template <class Get>
Key choice(std::string section, std::string name, Get get,
           std::initializer_list<const char*> allowed, bool empty_ok = false) {
  std::string expected;
  std::size_t i = 0;
  for (const char* value : allowed) {
    expected += (i == 0 ? "" : i + 1 == allowed.size() ? " or " : ", ") + std::string(value);
    ++i;
  }
  Key key = typed(std::move(section), std::move(name), expected, get, oneOf(allowed, empty_ok));
  key.choices.assign(allowed.begin(), allowed.end());
  return key;
}

// An https:// URL with something after the scheme (HttpsDownload fetches nothing else).
bool httpsUrlOrEmpty(const std::string& v) {
  return v.empty() || (v.rfind("https://", 0) == 0 && v.size() > std::strlen("https://"));
}

bool sha256OrEmpty(const std::string& v) {
  return v.empty() || (v.size() == 64 && std::all_of(v.begin(), v.end(), [](char c) {
                         return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                       }));
}

auto between(long long low, long long high) {
  return [low, high](int v) { return v >= low && v <= high; };
}

Key mountsKey() {
  Key key{"", "mounts", {}, {}, {}, "unset: your home folder, writable"};
  key.read = [](ProfileConfig& c, const YAML::Node& v, const std::string& source) {
    if (v.IsNull()) {
      c.mounts.reset();
      return;
    }
    if (!v.IsSequence())
      fail(source, v, "mounts must be a list of {location, mountPoint, writable}");
    std::vector<Share> shares;
    for (const auto& item : v) {
      requireMap(item, source, "each mounts entry");
      Share share;
      share.writable = false;
      bool located = false;
      for (const auto& kv : item) {
        const std::string name = keyName(kv.first, source);
        if (name == "location") {
          share.location = expandHome(scalar<std::string>(kv.second, source, "location", "a path"));
          located = true;
          if (share.location.empty() || share.location[0] != '/')
            fail(source, kv.second, "mount location must be an absolute path or start with ~");
        } else if (name == "mountPoint") {
          if (kv.second.IsNull()) continue;
          share.mount_point =
              expandHome(scalar<std::string>(kv.second, source, "mountPoint", "a path"));
          if (share.mount_point.empty() || share.mount_point[0] != '/')
            fail(source, kv.second, "mountPoint must be an absolute path");
        } else if (name == "writable") {
          share.writable = scalar<bool>(kv.second, source, "writable", "true or false");
        } else {
          fail(source, kv.first,
               "unknown key 'mounts[]." + name + "' (known: location, mountPoint, writable)");
        }
      }
      if (!located) fail(source, item, "a mounts entry needs a location");
      if (share.mount_point.empty()) share.mount_point = share.location;
      share.location = normalPath(share.location);
      share.mount_point = normalPath(share.mount_point);
      shares.push_back(share);
    }
    c.mounts = shares;
  };
  key.write = [](const ProfileConfig& c) {
    return c.mounts ? ProfileConfig::sharesJson(*c.mounts) : nlohmann::json();
  };
  return key;
}

Key dockerKey() {
  Key key{"", "docker", {}, {}, {}};
  key.read = [](ProfileConfig& c, const YAML::Node& v, const std::string& source) {
    if (!v.IsNull()) requireMap(v, source, "docker");
    c.docker = v.IsNull() ? nlohmann::json::object() : yamlToJson(v, source);
  };
  key.write = [](const ProfileConfig& c) { return c.docker; };
  return key;
}

Key envKey() {
  Key key{"", "env", {}, {}, {}};
  key.read = [](ProfileConfig& c, const YAML::Node& v, const std::string& source) {
    c.env.clear();
    if (v.IsNull()) return;
    requireMap(v, source, "env");
    for (const auto& e : v)
      c.env[keyName(e.first, source)] =
          scalar<std::string>(e.second, source, "env value", "a string");
  };
  key.write = [](const ProfileConfig& c) { return nlohmann::json(c.env); };
  return key;
}

#define BERTH_FIELD(member) ([](auto& c) -> auto& { return c.member; })

// Every key of berth.yaml, in the order the file lists them.
const std::vector<Key>& keys() {
  static const std::vector<Key> kTable = {
      typed("", "cpus", "a whole number from 1 to 1024", BERTH_FIELD(cpus), between(1, 1024)),
      typed("", "memory", "a positive number of GiB", BERTH_FIELD(memory),
            [](double v) { return v > 0; }),
      typed("", "disk", "a whole number of GiB, at least 1", BERTH_FIELD(disk),
            between(1, 1 << 30)),
      choice("", "arch", BERTH_FIELD(arch), {"x86_64", "aarch64"}),
      choice("", "runtime", BERTH_FIELD(runtime), {"docker", "containerd"}),
      choice("", "vmType", BERTH_FIELD(vm_type), {"qemu", "ns"}, true),
      choice("", "mountType", BERTH_FIELD(mount_type), {"9p", "virtiofs"}),
      typed("", "diskImage", "a guest image folder", BERTH_FIELD(disk_image)),
      typed("image", "url", "an https:// URL", BERTH_FIELD(image.url), httpsUrlOrEmpty),
      typed("image", "sha256", "64 lowercase hex digits (as sha256sum prints them)",
            BERTH_FIELD(image.sha256), sha256OrEmpty),
      mountsKey(),
      typed("network", "dns", "a list of addresses", BERTH_FIELD(network.dns)),
      typed("network", "subnet", "a CIDR", BERTH_FIELD(network.subnet)),
      choice("forwarding", "bind", BERTH_FIELD(forwarding.bind), {"loopback", "mirror"}),
      typed("forwarding", "udp", "true or false", BERTH_FIELD(forwarding.udp)),
      typed("forwarding", "nat", "true or false", BERTH_FIELD(forwarding.nat)),
      typed("kubernetes", "enabled", "true or false", BERTH_FIELD(kubernetes.enabled)),
      typed("kubernetes", "version", "a version", BERTH_FIELD(kubernetes.version)),
      typed("kubernetes", "k3sArgs", "a list of strings", BERTH_FIELD(kubernetes.k3s_args)),
      typed("kubernetes", "mirror", "an https:// URL", BERTH_FIELD(kubernetes.mirror),
            httpsUrlOrEmpty),
      typed("kubernetes", "artifacts", "a folder", BERTH_FIELD(kubernetes.artifacts)),
      dockerKey(),
      envKey(),
      typed("", "dockerSock", "true or false", BERTH_FIELD(docker_sock)),
      typed("dashboard", "enabled", "true or false", BERTH_FIELD(dashboard.enabled)),
      typed("dashboard", "port", "a port from 1 to 65535, or 0 for a free one",
            BERTH_FIELD(dashboard.port), between(0, 65535)),
      typed("domains", "enabled", "true or false", BERTH_FIELD(domains.enabled)),
      typed("domains", "port", "a port from 1 to 65535, or 0 for 80 (else a free one)",
            BERTH_FIELD(domains.port), between(0, 65535)),
      typed("boot", "lazy", "true or false", BERTH_FIELD(boot.lazy)),
      typed("boot", "idleStop", "a duration such as 30s, 10m or 1h (0: never)",
            BERTH_FIELD(boot.idle_stop), isDuration),
      typed("relay", "spinMicros", "a whole number from 0 to 10000", BERTH_FIELD(relay.spin_micros),
            between(0, 10000)),
      typed("relay", "maxConnections", "a whole number from 1 to 1000000",
            BERTH_FIELD(relay.max_connections), between(1, 1000000)),
      typed("relay", "headTimeout", "a duration of at least 1s (e.g. 300s, 5m)",
            BERTH_FIELD(relay.head_timeout),
            [](const std::string& v) { return isDuration(v) && parseDurationMillis(v) >= 1000; }),
      typed("", "listen", "a list of tcp://ADDR:PORT", BERTH_FIELD(listen)),
      typed("nerdctl", "binary", "an absolute path to a nerdctl binary",
            BERTH_FIELD(nerdctl.binary),
            [](const std::string& v) { return v.empty() || v[0] == '/'; }),
  };
  return kTable;
}

#undef BERTH_FIELD

// "cpus, memory, ..." or "dns, subnet": the names known at the top level or in `section`.
std::string knownNames(const std::string& section) {
  std::string out;
  std::string last;
  for (const auto& key : keys()) {
    const std::string& name = section.empty() && !key.section.empty() ? key.section : key.name;
    if (key.section != section && !(section.empty() && !key.section.empty())) continue;
    if (name == last) continue;
    out += (out.empty() ? "" : ", ") + name;
    last = name;
  }
  return out;
}

const Key* findKey(const std::string& section, const std::string& name) {
  for (const auto& key : keys())
    if (key.section == section && key.name == name) return &key;
  return nullptr;
}

bool isSection(const std::string& name) {
  for (const auto& key : keys())
    if (key.section == name) return true;
  return false;
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

std::vector<std::string> ProfileConfig::choices(const std::string& key) {
  for (const auto& k : keys())
    if (k.path() == key) return k.choices;
  throw std::logic_error("berth.yaml has no key " + key);
}

ProfileConfig ProfileConfig::defaults() {
  ProfileConfig config;
  config.arch = hostArch();
  try {
    config.runtime = defaultRuntime();
  } catch (const ConfigError&) {
    return config;  // refused where a profile is created (berth start): never saved
  }
  return config;
}

std::string ProfileConfig::defaultRuntime() {
  const char* env = std::getenv("BERTH_DEFAULT_RUNTIME");
  if (env == nullptr || *env == '\0') return "docker";
  const auto allowed = choices("runtime");
  if (std::find(allowed.begin(), allowed.end(), env) == allowed.end()) {
    throw ConfigError(std::string("BERTH_DEFAULT_RUNTIME is '") + env +
                      "'; it must be docker or containerd (or unset)");
  }
  return env;
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
  ProfileConfig next = *this;  // all or nothing: a bad key leaves *this unchanged
  // Entries are applied in file order, so a key given twice takes its last value.
  for (const auto& kv : root) {
    const std::string name = keyName(kv.first, source);
    if (const Key* key = findKey("", name)) {
      key->read(next, kv.second, source);
      continue;
    }
    if (!isSection(name))
      fail(source, kv.first, "unknown key '" + name + "' (known: " + knownNames("") + ")");
    if (kv.second.IsNull()) continue;
    // `domains: false` is short for `domains: {enabled: false}` (any section with `enabled`).
    if (const Key* enabled = findKey(name, "enabled"); enabled && kv.second.IsScalar()) {
      enabled->read(next, kv.second, source);
      continue;
    }
    requireMap(kv.second, source, name);
    for (const auto& entry : kv.second) {
      const std::string inner = keyName(entry.first, source);
      const Key* key = findKey(name, inner);
      if (key == nullptr) {
        fail(source, entry.first,
             "unknown key '" + name + "." + inner + "' (known: " + knownNames(name) + ")");
      }
      key->read(next, entry.second, source);
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
  for (const auto& key : keys()) {
    if (!key.check) continue;
    if (std::string why = key.check(*this); !why.empty()) throw ConfigError(why);
  }
  // Settings that would not be in force are refused rather than saved and shown as if they were.
  if (!nerdctl.binary.empty() && runtime != "containerd") {
    throw ConfigError("nerdctl.binary is for the containerd runtime; this profile runs " + runtime +
                      " (use docker with it)");
  }
  // What is downloaded is checked: a URL without its checksum is not taken on trust.
  if (!image.url.empty() && image.sha256.empty()) {
    throw ConfigError(
        "image.url needs image.sha256, the archive's checksum (sha256sum FILE), "
        "so that the download is verified");
  }
  // Where k3s comes from (mirror, artifacts) is accepted: `berth kubernetes download` uses it.
  if (kubernetes.enabled || !kubernetes.version.empty() || !kubernetes.k3s_args.empty()) {
    throw ConfigError(
        "kubernetes is not available yet: berth does not run k3s; leave kubernetes unset");
  }
  if (vm_type == "ns" && !arch.empty() && arch != hostArch()) {
    throw ConfigError("arch " + arch +
                      " needs an emulated machine: the ns driver runs the host's " + hostArch() +
                      " kernel; use --vm-type qemu");
  }
}

long long ProfileConfig::relayHeadTimeoutMillis() const {
  return durationMillis(relay.head_timeout, "relay.headTimeout");
}

std::string ProfileConfig::toYaml() const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string section;
  for (const auto& key : keys()) {
    if (key.section != section) {
      if (!section.empty()) out << YAML::EndMap;
      if (!key.section.empty()) out << YAML::Key << key.section << YAML::Value << YAML::BeginMap;
      section = key.section;
    }
    const nlohmann::json value = key.write(*this);
    out << YAML::Key << key.name << YAML::Value;
    emitJson(out, value);
    if (value.is_null() && key.null_note != nullptr) out << YAML::Comment(key.null_note);
  }
  if (!section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

void ProfileConfig::save(const std::string& path) const {
  try {
    net::Files::writeAtomic(
        path,
        "# berth profile settings (berth start flags override them; see berth template)\n" +
            toYaml(),
        0600);
  } catch (const std::runtime_error& e) {
    throw ConfigError(e.what());
  }
}

nlohmann::json ProfileConfig::toJson() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& key : keys()) {
    (key.section.empty() ? out : out[key.section])[key.name] = key.write(*this);
  }
  out["mounts"] = sharesJson(effectiveMounts());  // the shares in force, not the file's null
  return out;
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
