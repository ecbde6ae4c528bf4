#include "api/MountFilter.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace berth::api {
namespace {

// ordered_json keeps the client's key order, so an untouched part reads as it was sent.
using Json = nlohmann::ordered_json;

// True when `body` nests arrays/objects deeper than `limit` (strings skipped).
bool tooDeep(const std::string& body, int limit) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

std::vector<std::string_view> tokens(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

bool hasToken(std::string_view list, std::string_view token) {
  for (auto t : tokens(list, ',')) {
    if (t == token) return true;
  }
  return false;
}

Json* member(Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string stringOr(const Json* value, std::string fallback = "") {
  return value && value->is_string() ? value->get<std::string>() : std::move(fallback);
}

// A string field holding a host path, rewritten to its guest path in place.
class Rewriter {
 public:
  explicit Rewriter(const MountTranslator& translator) : translator_(translator) {}

  void path(Json& field, bool write) {
    if (!error.empty() || !field.is_string()) return;
    auto guest = translator_.toGuest(field.get_ref<const std::string&>(), write);
    if (!guest.ok()) {
      error = guest.error;
      return;
    }
    if (guest.path != field.get_ref<const std::string&>()) {
      field = guest.path;
      changed = true;
    }
  }

  // "src:dst[:mode]": a one-part entry is an anonymous volume and a source that is no path
  // is a volume name, both left alone; the destination and every mode are kept as sent.
  void bind(Json& entry) {
    if (!error.empty() || !entry.is_string()) return;
    const std::string& text = entry.get_ref<const std::string&>();
    // "C:\x:/data" and "C:/x:/data" are Windows drive paths; "v:/data" is volume v.
    const bool letter =
        text.size() > 2 && std::isalpha(static_cast<unsigned char>(text[0])) && text[1] == ':';
    const std::size_t third = letter ? text.find(':', 2) : std::string::npos;
    const bool drive =
        letter && (text[2] == '\\' || (text[2] == '/' && third != std::string::npos &&
                                       third + 1 < text.size() && text[third + 1] == '/'));
    std::size_t colon = drive ? std::min(third, text.size()) : text.find(':');  // drive: refused
    if (colon == std::string::npos) return;
    std::string source = text.substr(0, colon);
    std::string rest = colon < text.size() ? text.substr(colon + 1) : "";
    const bool path_like = drive || source.find('/') != std::string::npos ||
                           source.find('\\') != std::string::npos ||
                           (!source.empty() && (source[0] == '.' || source[0] == '~'));
    if (!path_like) return;
    auto mode_at = rest.find(':');
    const bool read_only =
        mode_at != std::string::npos && hasToken(std::string_view(rest).substr(mode_at + 1), "ro");
    Json source_field = source;
    path(source_field, !read_only);
    if (error.empty() && source_field.get_ref<const std::string&>() != source) {
      entry = source_field.get<std::string>() + ":" + rest;
    }
  }

  // A local-driver volume whose options say o=bind,device=PATH is a bind mount in disguise.
  void volumeOptions(const Json* driver, Json* options, bool read_only) {
    if (!options || !options->is_object()) return;
    std::string name = stringOr(driver);
    if (!name.empty() && name != "local") return;
    std::string o = stringOr(member(*options, "o"));
    if (!hasToken(o, "bind") && !hasToken(o, "rbind")) return;
    if (Json* device = member(*options, "device")) path(*device, !(read_only || hasToken(o, "ro")));
  }

  void mount(Json& m) {
    if (!m.is_object()) return;
    std::string type = stringOr(member(m, "Type"));
    const Json* ro = member(m, "ReadOnly");
    const bool read_only = ro && ro->is_boolean() && ro->get<bool>();
    if (type == "bind") {
      Json* source = member(m, "Source");
      if (source && source->is_string() && !source->get_ref<const std::string&>().empty()) {
        path(*source, !read_only);
      }
    } else if (type == "volume") {
      Json* config = member(m, "VolumeOptions");
      Json* driver = config ? member(*config, "DriverConfig") : nullptr;
      if (driver) volumeOptions(member(*driver, "Name"), member(*driver, "Options"), read_only);
    }
  }

  std::string error;
  bool changed = false;

 private:
  const MountTranslator& translator_;
};

// Guest paths in an engine reply mapped back to the host paths the user wrote.
class Restorer {
 public:
  explicit Restorer(const MountTranslator& translator) : translator_(translator) {}

  void path(Json* field) {
    if (!field || !field->is_string()) return;
    if (auto host = translator_.toHost(field->get_ref<const std::string&>())) {
      if (*host != field->get_ref<const std::string&>()) {
        *field = *host;
        changed = true;
      }
    }
  }

  void bind(Json& entry) {
    if (!entry.is_string()) return;
    const std::string& text = entry.get_ref<const std::string&>();
    auto colon = text.find(':');
    if (text.empty() || text[0] != '/' || colon == std::string::npos) return;
    if (auto host = translator_.toHost(std::string_view(text).substr(0, colon))) {
      std::string restored = *host + text.substr(colon);
      if (restored != text) {
        entry = restored;
        changed = true;
      }
    }
  }

  void mounts(Json* list, const char* source_key) {
    if (!list || !list->is_array()) return;
    for (auto& m : *list) {
      std::string type = stringOr(member(m, "Type"));
      if (type == "bind") {
        path(member(m, source_key));
      } else if (type == "volume") {
        Json* config = member(m, "VolumeOptions");
        Json* driver = config ? member(*config, "DriverConfig") : nullptr;
        Json* options = driver ? member(*driver, "Options") : nullptr;
        if (options && options->is_object()) path(member(*options, "device"));
      }
    }
  }

  void container(Json& c) {
    if (!c.is_object()) return;
    if (Json* host_config = member(c, "HostConfig")) {
      if (Json* binds = member(*host_config, "Binds"); binds && binds->is_array()) {
        for (auto& b : *binds) bind(b);
      }
      mounts(member(*host_config, "Mounts"), "Source");
    }
    mounts(member(c, "Mounts"), "Source");
  }

  // A local volume made with o=bind,device=PATH shows its device as the host path.
  void volume(Json& v) {
    if (!v.is_object()) return;
    std::string driver = stringOr(member(v, "Driver"), "local");
    Json* options = member(v, "Options");
    if (driver != "local" || !options || !options->is_object()) return;
    std::string o = stringOr(member(*options, "o"));
    if (hasToken(o, "bind") || hasToken(o, "rbind")) path(member(*options, "device"));
  }

  bool changed = false;

 private:
  const MountTranslator& translator_;
};

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

MountFilter::MountFilter(std::shared_ptr<const MountTranslator> translator, Subject subject)
    : translator_(std::move(translator)), subject_(subject) {}

bool MountFilter::wantsRequestBody() const {
  return subject_ == Subject::ContainerCreate || subject_ == Subject::VolumeCreate;
}

std::optional<LocalReply> MountFilter::onRequestBody(std::string& body) {
  if (tooDeep(body, kMaxDepth)) {
    return LocalReply{400, "request body nests JSON deeper than " + std::to_string(kMaxDepth) +
                               " levels; berth will not inspect it"};
  }
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;  // the engine will say why
  Rewriter rewrite(*translator_);
  if (subject_ == Subject::ContainerCreate) {
    if (Json* host_config = member(j, "HostConfig")) {
      if (Json* binds = member(*host_config, "Binds"); binds && binds->is_array()) {
        for (auto& b : *binds) rewrite.bind(b);
      }
      if (Json* mounts = member(*host_config, "Mounts"); mounts && mounts->is_array()) {
        for (auto& m : *mounts) rewrite.mount(m);
      }
    }
  } else {
    rewrite.volumeOptions(member(j, "Driver"), member(j, "DriverOpts"), false);
  }
  if (!rewrite.error.empty()) return LocalReply{400, rewrite.error};
  if (rewrite.changed) body = dump(j);
  return std::nullopt;
}

bool MountFilter::wantsResponseBody(int status) const {
  return status == 200 && !wantsRequestBody();
}

void MountFilter::onResponseBody(int, std::string& body) {
  if (tooDeep(body, kMaxDepth)) return;
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return;
  Restorer restore(*translator_);
  switch (subject_) {
    case Subject::ContainerList:
      if (j.is_array()) {
        for (auto& c : j) restore.container(c);
      }
      break;
    case Subject::ContainerInspect:
      restore.container(j);
      break;
    case Subject::VolumeList:
      if (Json* volumes = member(j, "Volumes"); volumes && volumes->is_array()) {
        for (auto& v : *volumes) restore.volume(v);
      }
      break;
    case Subject::VolumeInspect:
      restore.volume(j);
      break;
    default:
      break;
  }
  if (restore.changed) body = dump(j);
}

}  // namespace berth::api
