#include "server/MountSetup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "api/MountFilterFactory.h"
#include "server/net/Log.h"

namespace berth::server {

api::LinkReader hostLinkReader() {
  return [](const std::string& path) -> std::optional<std::string> {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return std::nullopt;
    std::string target(st.st_size > 0 ? static_cast<std::size_t>(st.st_size) + 1 : 4096, '\0');
    ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n <= 0 || static_cast<std::size_t>(n) >= target.size()) return std::nullopt;
    target.resize(static_cast<std::size_t>(n));
    return target;
  };
}

api::EngineSocket engineSocket(const std::string& berth_socket,
                               const std::string& guest_engine_socket) {
  if (guest_engine_socket.empty() || guest_engine_socket[0] != '/') return {};
  api::EngineSocket socket{{"/var/run/docker.sock", "/run/docker.sock"}, guest_engine_socket};
  std::error_code ec;
  auto absolute = std::filesystem::absolute(berth_socket, ec);
  if (!berth_socket.empty() && !ec) socket.host_aliases.push_back(absolute.string());
  return socket;
}

void registerMountFilter(api::FilterChainFactory& filters, std::vector<vm::Share> shares,
                         api::EngineSocket engine_socket, const std::string& profile) {
  for (const auto& s : shares) {
    BERTH_LOG(Info, "mounts",
              "share " << s.location << " -> guest " << s.mount_point
                       << (s.writable ? " (rw)" : " (ro)"));
  }
  if (!engine_socket.guest_path.empty()) {
    BERTH_LOG(Info, "mounts",
              "bind mounts of /var/run/docker.sock get the engine's socket ("
                  << engine_socket.guest_path << " in the guest)");
  }
  auto translator = std::make_shared<const api::MountTranslator>(
      std::move(shares), hostLinkReader(), std::move(engine_socket), profile);
  filters.add(std::string(api::MountFilterFactory::kName),
              std::make_shared<api::MountFilterFactory>(std::move(translator)));
}

}  // namespace berth::server
