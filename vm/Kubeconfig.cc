#include "vm/Kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "server/net/Files.h"

namespace berth::vm {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSections[] = {"clusters", "users", "contexts"};

// The file's document, or an empty Config when there is none yet; anything that is not a
// kubeconfig map is refused rather than overwritten.
YAML::Node load(const std::string& file) {
  const auto text = net::Files::read(file);
  YAML::Node doc;
  if (text && text->find_first_not_of(" \t\r\n") != std::string::npos) {
    try {
      doc = YAML::Load(*text);
    } catch (const YAML::Exception& e) {
      throw std::runtime_error(file + " is not valid YAML (line " +
                               std::to_string(e.mark.line + 1) + "); fix or move it, then retry");
    }
  }
  if (doc.IsNull() || !doc.IsDefined()) {
    doc = YAML::Node(YAML::NodeType::Map);
    doc["apiVersion"] = "v1";
    doc["kind"] = "Config";
    doc["preferences"] = YAML::Node(YAML::NodeType::Map);
  }
  if (!doc.IsMap()) throw std::runtime_error(file + " is not a kubeconfig (not a map)");
  for (const char* section : kSections) {
    if (doc[section] && !doc[section].IsNull() && !doc[section].IsSequence())
      throw std::runtime_error(file + ": '" + section + "' is not a list; fix it, then retry");
  }
  return doc;
}

// The one entry of `section` in k3s's admin kubeconfig (k3s names it "default").
YAML::Node onlyEntry(const YAML::Node& admin, const char* section, const char* field) {
  const YAML::Node list = admin[section];
  if (!list || !list.IsSequence() || list.size() == 0 || !list[0][field] ||
      !list[0][field].IsMap()) {
    throw std::runtime_error(std::string("k3s's admin kubeconfig has no ") + section +
                             " entry; k3s may still be starting");
  }
  return list[0][field];
}

std::string emit(const YAML::Node& doc) {
  YAML::Emitter out;
  out << doc;
  return std::string(out.c_str()) + "\n";
}

// `list` without the entries called `name`; `removed` set when one was dropped.
YAML::Node without(const YAML::Node& list, const std::string& name, bool& removed) {
  YAML::Node kept(YAML::NodeType::Sequence);
  if (!list || !list.IsSequence()) return kept;
  for (const auto& entry : list) {
    if (entry.IsMap() && entry["name"] && entry["name"].IsScalar() &&
        entry["name"].as<std::string>() == name) {
      removed = true;
      continue;
    }
    kept.push_back(entry);
  }
  return kept;
}

// Where to write: through a symlink to its target (as kubectl does), so a linked
// ~/.kube/config stays a link.
std::string target(const std::string& file) {
  std::error_code ec;
  if (fs::is_symlink(file, ec)) {
    const fs::path resolved = fs::weakly_canonical(file, ec);
    if (!ec) return resolved.string();
  }
  return file;
}

void save(const std::string& file, const YAML::Node& doc) {
  const std::string path = target(file);
  std::error_code ec;
  const fs::path folder = fs::path(path).parent_path();
  if (!folder.empty()) fs::create_directories(folder, ec);
  if (ec) throw std::runtime_error("cannot create " + folder.string() + ": " + ec.message());
  net::Files::writeAtomic(path, emit(doc), 0600);
}

}  // namespace

std::string Kubeconfig::userFile() {
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr) {
    const std::string list = env;
    std::size_t start = 0;
    while (start <= list.size()) {
      const std::size_t end = std::min(list.find(':', start), list.size());
      if (end > start) return list.substr(start, end - start);
      start = end + 1;
    }
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : "/root") + "/.kube/config";
}

std::string Kubeconfig::standalone(const std::string& admin_yaml, const std::string& name,
                                   const std::string& server) {
  YAML::Node admin;
  try {
    admin = YAML::Load(admin_yaml);
  } catch (const YAML::Exception&) {
    throw std::runtime_error("k3s's admin kubeconfig is not valid YAML");
  }
  if (!admin.IsMap()) throw std::runtime_error("k3s's admin kubeconfig is not a map");
  YAML::Node cluster = YAML::Clone(onlyEntry(admin, "clusters", "cluster"));
  YAML::Node user = YAML::Clone(onlyEntry(admin, "users", "user"));
  cluster["server"] = server;

  YAML::Node doc(YAML::NodeType::Map);
  doc["apiVersion"] = "v1";
  doc["kind"] = "Config";
  doc["preferences"] = YAML::Node(YAML::NodeType::Map);
  YAML::Node c;
  c["name"] = name;
  c["cluster"] = cluster;
  doc["clusters"].push_back(c);
  YAML::Node u;
  u["name"] = name;
  u["user"] = user;
  doc["users"].push_back(u);
  YAML::Node ctx;
  ctx["name"] = name;
  ctx["context"]["cluster"] = name;
  ctx["context"]["user"] = name;
  doc["contexts"].push_back(ctx);
  doc["current-context"] = name;
  return emit(doc);
}

void Kubeconfig::merge(const std::string& file, const std::string& admin_yaml,
                       const std::string& name, const std::string& server, bool activate) {
  const YAML::Node mine = YAML::Load(standalone(admin_yaml, name, server));
  YAML::Node doc = load(file);
  for (const char* section : kSections) {
    bool removed = false;
    YAML::Node list = without(doc[section], name, removed);
    list.push_back(mine[section][0]);
    doc[section] = list;
  }
  const bool no_current = !doc["current-context"] || !doc["current-context"].IsScalar() ||
                          doc["current-context"].as<std::string>().empty();
  if (activate || no_current) doc["current-context"] = name;
  save(file, doc);
}

bool Kubeconfig::remove(const std::string& file, const std::string& name) {
  if (!net::Files::read(file)) return false;
  YAML::Node doc = load(file);
  bool removed = false;
  for (const char* section : kSections) {
    if (!doc[section] || !doc[section].IsSequence()) continue;
    doc[section] = without(doc[section], name, removed);
  }
  if (currentContext(file) == name) {
    doc["current-context"] = "";
    removed = true;
  }
  if (removed) save(file, doc);
  return removed;
}

std::string Kubeconfig::currentContext(const std::string& file) {
  const auto text = net::Files::read(file);
  if (!text) return "";
  try {
    const YAML::Node doc = YAML::Load(*text);
    if (doc.IsMap() && doc["current-context"] && doc["current-context"].IsScalar())
      return doc["current-context"].as<std::string>();
  } catch (const YAML::Exception&) {
    return "";  // not YAML: no current context (kubectl would refuse the file too)
  }
  return "";
}

}  // namespace berth::vm
