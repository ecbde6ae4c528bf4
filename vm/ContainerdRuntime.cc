#include "vm/ContainerdRuntime.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "server/net/ChildProcess.h"
#include "server/net/Files.h"
#include "server/net/Log.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::vm {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kShutdownLimit = seconds(10);  // containerd exits on SIGTERM in well under this

std::string program(const char* name, const char* package) {
  std::string path = net::ChildProcess::which(name);
  if (path.empty()) {
    throw DriverError(std::string(name) + " not found: install it (apt-get install " + package +
                      ")");
  }
  return path;
}

// A TOML basic string: the paths berth writes are plain, but a quote or backslash in a
// BERTH_HOME must not break the file.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A copy, not the host's file: the guest keeps the binary it booted with, as a VM would.
void copyNerdctl(const NsEngineLayout& layout) {
  const std::string target = ContainerdRuntime::guestNerdctl(layout.paths);
  const std::string& source = layout.config.nerdctl.binary;
  std::error_code ec;
  if (source.empty()) {
    std::filesystem::remove(target, ec);
    return;
  }
  namespace fs = std::filesystem;
  fs::create_directories(fs::path(target).parent_path(), ec);
  if (!ec) fs::copy_file(source, target, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::permissions(target, fs::perms(0755), ec);
  if (ec) {
    throw DriverError("nerdctl.binary " + source +
                      " cannot be copied into the guest: " + ec.message());
  }
}

}  // namespace

std::string ContainerdRuntime::userConfigFile(const ProfilePaths& paths) {
  return paths.dir + "/containerd/config.toml";
}

std::string ContainerdRuntime::defaultConfig(const std::string& socket, const std::string& root,
                                             const std::string& state) {
  std::ostringstream out;
  out << "# written by berth at every boot; put your own in <profile>/containerd/config.toml\n"
      << "version = 2\n"
      << "root = " << quoted(root) << "\n"
      << "state = " << quoted(state) << "\n"
      << "# the CRI plugin serves Kubernetes only; it would also look for CNI configs and\n"
      << "# listen on a port of 127.0.0.1 (its stream server)\n"
      << "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n"
      << "[grpc]\n"
      << "  address = " << quoted(socket) << "\n\n"
      << "[plugins.\"io.containerd.internal.v1.opt\"]\n"
      << "  path = " << quoted(root + "/opt") << "\n";
  return out.str();
}

std::vector<std::string> ContainerdRuntime::ctrArgv(const std::string& socket) {
  return {program("ctr", "containerd"), "--address", socket};
}

std::string ContainerdRuntime::vmConfig(const std::string& user_config) {
  if (std::filesystem::exists(user_config)) return net::Files::readOr(user_config);
  return defaultConfig(kVmSocket, "/var/lib/containerd", "/run/containerd");
}

std::string ContainerdRuntime::guestNerdctl(const ProfilePaths& paths) {
  return paths.state_dir + "/bin/nerdctl";
}

std::vector<std::string> ContainerdRuntime::nsArgv(const NsEngineLayout& layout) const {
  const std::string& state_dir = layout.paths.state_dir;
  copyNerdctl(layout);
  const std::string root = state_dir + "/data/containerd";
  const std::string state = state_dir + "/containerd-state";
  program("runc", "runc");
  std::string config = userConfigFile(layout.paths);
  if (std::filesystem::exists(config)) {
    BERTH_LOG(Info, "ns", "containerd uses " << config << " (berth sets its socket, root, state)");
  } else {
    config = state_dir + "/containerd.toml";
    net::Files::writeAtomic(config, defaultConfig(layout.engine_socket, root, state));
  }
  ::unlink(layout.pid_file.c_str());  // the guest's init writes the new one
  // The flags win over any file: the relay, `berth ctr` and the profile's data depend on them.
  return {program("containerd", "containerd"),
          "--config",
          config,
          "--address",
          layout.engine_socket,
          "--root",
          root,
          "--state",
          state};
}

std::vector<NsGuestBind> ContainerdRuntime::nsBinds(const NsEngineLayout& layout) const {
  return {{layout.paths.state_dir + "/runc", kRuncRoot}};
}

namespace {

// `ctr version` against the containerd at `endpoint`: its output, or "" when it failed.
net::RunResult ctrVersion(const EngineEndpoint& endpoint, milliseconds timeout) {
  auto argv = ContainerdRuntime::ctrArgv(endpoint.unix_path);
  argv.insert(argv.end(), {"--connect-timeout", "1s", "version"});
  return net::ChildProcess::run(argv, timeout);
}

}  // namespace

std::string ContainerdRuntime::serverVersion(const std::string& output) {
  const auto server = output.find("\nServer:");
  if (server == std::string::npos) return "";
  const auto field = output.find("\n  Version:", server);
  if (field == std::string::npos) return "";
  const auto begin = output.find_first_not_of(" \t", field + 11);
  if (begin == std::string::npos) return "";
  return output.substr(begin, output.find_first_of(" \t\r\n", begin) - begin);
}

bool ContainerdRuntime::answers(const EngineEndpoint& endpoint, milliseconds timeout,
                                std::string& error) const {
  const auto result = ctrVersion(endpoint, timeout);
  if (result.exit_code == 0 && !serverVersion(result.output).empty()) return true;
  error = result.output.empty() ? "ctr version failed" : result.output.substr(0, 300);
  return false;
}

std::string ContainerdRuntime::engineVersion(const EngineEndpoint& endpoint,
                                             milliseconds timeout) const {
  try {
    const auto result = ctrVersion(endpoint, timeout);
    return result.exit_code == 0 ? serverVersion(result.output) : "";
  } catch (const std::exception&) {
    return "";  // no ctr on this host: not known
  }
}

int ContainerdRuntime::runningContainers(const EngineEndpoint& endpoint) const {
  try {
    auto list = ctrArgv(endpoint.unix_path);
    list.insert(list.end(), {"namespaces", "ls", "-q"});
    const auto namespaces = net::ChildProcess::run(list);
    if (namespaces.exit_code != 0) return -1;
    int running = 0;
    std::istringstream names(namespaces.output);
    for (std::string ns; std::getline(names, ns);) {
      if (ns.empty()) continue;
      auto tasks = ctrArgv(endpoint.unix_path);
      tasks.insert(tasks.end(), {"--namespace", ns, "tasks", "ls"});
      const auto result = net::ChildProcess::run(tasks);
      if (result.exit_code != 0) return -1;
      std::istringstream lines(result.output);
      for (std::string line; std::getline(lines, line);) {
        if (line.find(" RUNNING") != std::string::npos) ++running;
      }
    }
    return running;
  } catch (const std::exception&) {
    return -1;
  }
}

void ContainerdRuntime::shutdown(net::ChildProcess& containerd, const EngineEndpoint&,
                                 const NsEngineLayout&) const {
  // containerd leaves its tasks to their shims: the driver stops them with the guest's other
  // processes (SIGTERM, then SIGKILL), as a machine's shutdown would.
  BERTH_LOG(Info, "ns", "shutting containerd down");
  containerd.signal(SIGTERM);
  if (!containerd.wait(kShutdownLimit)) {
    BERTH_LOG(Warn, "ns", "containerd did not shut down within 10s; killing it");
  }
}

}  // namespace berth::vm
