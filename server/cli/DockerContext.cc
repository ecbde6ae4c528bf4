#include "server/cli/DockerContext.h"

#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "server/net/Digest.h"
#include "server/net/Files.h"

namespace berth::cli {
namespace {

std::string configFile() { return DockerContext::configDir() + "/config.json"; }

nlohmann::json readConfig() {
  std::ifstream in(configFile());
  if (!in) return nlohmann::json::object();
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find_first_not_of(" \t\r\n") == std::string::npos) return nlohmann::json::object();
  auto config = nlohmann::json::parse(text.str(), nullptr, false);  // not JSON: discarded
  if (config.is_object()) return config;
  throw std::runtime_error(configFile() + " is not a JSON object; fix or move it, then retry");
}

}  // namespace

std::string DockerContext::configDir() {
  if (const char* env = std::getenv("DOCKER_CONFIG"); env != nullptr && *env != '\0') return env;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "/root") + "/.docker";
}

std::string DockerContext::metaFile(const std::string& name) {
  return configDir() + "/contexts/meta/" + net::Digest::sha256Hex(name) + "/meta.json";
}

void DockerContext::write(const std::string& name, const std::string& description,
                          const std::string& docker_host) {
  const std::string meta = metaFile(name);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(meta).parent_path(), ec);
  if (ec)
    throw std::runtime_error("cannot create the docker context " + name + ": " + ec.message());
  nlohmann::json context = {
      {"Name", name},
      {"Metadata", {{"Description", description}}},
      {"Endpoints", {{"docker", {{"Host", docker_host}, {"SkipTLSVerify", false}}}}}};
  net::Files::writeAtomic(meta, context.dump() + "\n", 0644);
}

void DockerContext::activate(const std::string& name) {
  nlohmann::json config = readConfig();
  config["currentContext"] = name;
  std::error_code ec;
  std::filesystem::create_directories(configDir(), ec);
  net::Files::writeAtomic(configFile(), config.dump(1, '\t') + "\n", 0600);
}

bool DockerContext::remove(const std::string& name) {
  const auto dir = std::filesystem::path(metaFile(name)).parent_path();
  std::error_code ec;
  const bool existed = std::filesystem::exists(dir, ec);
  std::filesystem::remove_all(dir, ec);
  if (current() == name) {
    nlohmann::json config = readConfig();
    config.erase("currentContext");
    net::Files::writeAtomic(configFile(), config.dump(1, '\t') + "\n", 0600);
  }
  return existed;
}

std::string DockerContext::current() {
  std::ifstream in(configFile());
  if (!in) return "";
  try {
    auto config = readConfig();
    if (config.contains("currentContext") && config["currentContext"].is_string()) {
      return config["currentContext"].get<std::string>();
    }
  } catch (const std::exception&) {
    return "";  // an unreadable config names no current context (docker says the same)
  }
  return "";
}

}  // namespace berth::cli
