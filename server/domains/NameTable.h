#pragma once
// NameTable: which container a name reaches and on which port, built from the engine's list of
// running containers (`GET /containers/json`). A name is a container's name, or
// `<service>.<project>` from its compose labels; the port is the `berth.http.port` label, else
// the container's only exposed TCP port. Lookups say why a name cannot be served (unknown,
// several ports, no port, no address), for the front's error pages. Stopped `berth.wake=true`
// containers are listed too, as asleep: the front wakes them on their first request. Immutable once
// built, so one table is shared by every connection; thread-safe.
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::server {

class NameTable {
 public:
  static constexpr const char* kPortLabel = "berth.http.port";

  struct Container {
    std::string id;
    std::string name;        // without the leading '/'
    std::string service;     // com.docker.compose.service, or ""
    std::string project;     // com.docker.compose.project, or ""
    std::string address;     // its IP in the guest; "127.0.0.1" on the host network; "" = none
    std::vector<int> ports;  // exposed TCP ports, ascending, each once
    std::string port_label;  // berth.http.port as written, or ""
    bool asleep = false;     // a stopped berth.wake=true container
    std::chrono::milliseconds wake_timeout{0};  // berth.wake.timeout, when asleep
  };

  enum class Outcome {
    Found,         // `container` on `port`
    Unknown,       // no running container has that name
    SeveralPorts,  // it exposes more than one TCP port and has no berth.http.port
    NoPort,        // it exposes no TCP port and has no berth.http.port
    BadLabel,      // berth.http.port is not a port number
    NoAddress,     // it has no address berth can reach (e.g. --network none)
    Asleep,        // a stopped berth.wake=true container: start it, then look again
  };

  struct Lookup {
    Outcome outcome = Outcome::Unknown;
    const Container* container = nullptr;  // set unless Unknown
    int port = 0;                          // set when Found
  };

  NameTable() = default;
  // `containers`: the running ones; `sleepers`: berth.wake containers, stopped ones included
  // (WakeLabels::kListTarget), of which those not running are added as asleep. Entries that are
  // not objects, or have no name, are skipped.
  static NameTable fromList(const nlohmann::json& containers,
                            const nlohmann::json& sleepers = nlohmann::json::array());

  // `name` in lowercase ("web", "web.shop"): a container name first, then `<service>.<project>`
  // (several replicas of a service: the first by container name).
  Lookup find(const std::string& name) const;
  // Every name served, sorted ("web", "web.shop"), for the 404 page.
  std::vector<std::string> names() const;
  std::size_t size() const { return containers_.size(); }

 private:
  std::vector<Container> containers_;              // sorted by name
  std::map<std::string, std::size_t> by_name_;     // lowercase container name
  std::map<std::string, std::size_t> by_service_;  // "service.project", lowercase
};

}  // namespace berth::server
