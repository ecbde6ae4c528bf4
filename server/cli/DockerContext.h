#pragma once
// DockerContext: writes and removes a context in the docker CLI's own context store
// ($DOCKER_CONFIG, else ~/.docker: contexts/meta/<sha256 of name>/meta.json) and sets or resets
// `currentContext` in config.json, keeping every other key -- without the docker binary.
// Control-plane code: throws std::runtime_error with one clear line. Not thread-safe (files).
#include <string>

namespace berth::cli {

class DockerContext {
 public:
  // $DOCKER_CONFIG, else $HOME/.docker.
  static std::string configDir();
  // Creates or replaces context `name` pointing at `docker_host` (unix:///...).
  static void write(const std::string& name, const std::string& description,
                    const std::string& docker_host);
  // Makes `name` the current context in config.json.
  static void activate(const std::string& name);
  // Removes context `name`; when it was current, the docker CLI goes back to its default.
  // Returns true when the context existed.
  static bool remove(const std::string& name);
  static std::string current();
  // The meta.json path of context `name`.
  static std::string metaFile(const std::string& name);
};

}  // namespace berth::cli
