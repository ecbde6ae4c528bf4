#pragma once
// PublishedPorts: what a running container publishes on its engine's host, read from the
// engine's own JSON (DESIGN.md "Port forwarding"): `NetworkSettings.Ports` of an inspect, or
// `Ports` of a /containers/json entry. Ports are as the engine resolved them (`-P`, ranges and
// empty HostPort already turned into real numbers); exposed-but-unpublished ports are skipped.
// Pure functions, no I/O; malformed entries are skipped, never thrown on.
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace berth::api {

struct PublishedPort {
  std::string proto;            // "tcp", "udp" (sctp is skipped: nothing to relay it with)
  std::string host_ip;          // as the engine bound it: "0.0.0.0", "::", "127.0.0.1", ...
  std::uint16_t host_port = 0;  // the port on the engine's host (the guest)
  std::uint16_t container_port = 0;
  std::string container_id;
  std::string container_name;  // without the leading '/'

  friend bool operator==(const PublishedPort&, const PublishedPort&) = default;
};

// From `GET /containers/{id}/json`. A container that is not running publishes nothing.
std::vector<PublishedPort> publishedPortsFromInspect(const nlohmann::json& inspect);

// The fixed host ports a container asks for, from `GET /containers/{id}/json`'s
// HostConfig.PortBindings (known before it starts). An empty HostPort (`-P`, `-p 80`) or a
// range (`-p 8000-8010:80`) is chosen by the engine when the container starts, so it is left
// out; a host-network container publishes nothing.
std::vector<PublishedPort> requestedPortsFromInspect(const nlohmann::json& inspect);

// From `GET /containers/json` (an array; only running containers are listed by default).
std::vector<PublishedPort> publishedPortsFromList(const nlohmann::json& list);

}  // namespace berth::api
