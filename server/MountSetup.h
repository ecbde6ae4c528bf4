#pragma once
// Mount translation on the host: the real LinkReader (lstat + readlink, the only I/O the
// MountTranslator needs) and the one call that registers the "mounts" filter for a set of
// shares. Used by every daemon mode (plain relay, profile daemon). Thread-safe.
#include <string>
#include <vector>

#include "api/FilterChain.h"
#include "api/MountTranslator.h"
#include "vm/Driver.h"

namespace berth::server {

// Reads symlinks of the host file system (readlink(2)); nullopt for anything else.
api::LinkReader hostLinkReader();

// The engine-socket aliases every daemon mode uses: `/var/run/docker.sock`,
// `/run/docker.sock` and berth's own socket `berth_socket` (made absolute) all name the
// engine's socket, which the guest sees at `guest_engine_socket` ("" turns aliasing off).
api::EngineSocket engineSocket(const std::string& berth_socket,
                               const std::string& guest_engine_socket);

// Registers the "mounts" filter translating bind mounts into `shares` on `filters`, and logs
// the shares. With no shares every bind mount would be refused, so callers register only
// when shares exist or the profile says so. `profile` is named in the errors' hint ("" for
// the plain relay).
void registerMountFilter(api::FilterChainFactory& filters, std::vector<vm::Share> shares,
                         api::EngineSocket engine_socket, const std::string& profile);

}  // namespace berth::server
