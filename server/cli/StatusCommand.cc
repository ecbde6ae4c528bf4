// `berth status [profile] [-e] [--json]`, `berth list [--all] [--json]` and
// `berth version [profile]`.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "server/ProfileStatus.h"
#include "server/cli/Cli.h"
#include "server/cli/ProfileClient.h"
#include "server/cli/TextTable.h"
#include "server/net/HttpClient.h"
#include "vm/DriverFactory.h"

namespace berth::cli {
namespace {

struct StatusOptions {
  ProfileArgs profile;
  bool extended = false;
  bool json = false;
};

std::string gib(double value) {
  std::ostringstream out;
  out << value << "GiB";
  return out.str();
}

// A disk size, or "-" where none is in force (the ns driver uses the host's file system).
std::string diskText(const nlohmann::json& disk) {
  return disk.is_number() ? gib(disk.get<double>()) : "-";
}

// The runtime, with containerd's version when containerd told it (e.g. "containerd 1.6.20").
std::string runtimeText(const nlohmann::json& row) {
  const auto& version = row.value("containerdVersion", nlohmann::json());
  return row["runtime"].get<std::string>() +
         (version.is_string() ? " " + version.get<std::string>() : "");
}

constexpr const char* kOrphaned = "daemon not running: `berth start` adopts it";

// What `status --json` says about a profile whose daemon does not run. Its guest may still
// run (the daemon was killed): then the containers run too, and that is what it says.
nlohmann::json offlineStatus(const ProfileClient& client) {
  const vm::ProfileConfig config = client.loadConfig(true);
  if (vm::DriverFactory::makeDriver(config, client.paths())->orphanRunning()) {
    auto s = server::ProfileStatus::base(client.paths(), config, "Running");
    s["guest"] = {{"state", "Running"}, {"detail", kOrphaned}};
    return s;
  }
  return server::ProfileStatus::base(client.paths(), config, "Stopped");
}

// Running / Idle (daemon up, guest down: it boots on the next request) / Stopped / ...
std::string overallStatus(const nlohmann::json& status) {
  std::string guest = status.value("status", "Stopped");
  const bool daemon = status["daemon"].value("running", false);
  if (daemon && guest == "Stopped") return "Idle";
  if (!daemon && guest == "Running") return "Running (no daemon)";
  return guest;
}

nlohmann::json statusOf(const ProfileClient& client) {
  if (auto live = client.status()) return *live;
  return offlineStatus(client);
}

void printHuman(const nlohmann::json& s, bool extended) {
  const std::string state = overallStatus(s);
  const std::string name = s["profile"].get<std::string>();
  if (state == "Idle") {
    std::cout << "berth profile '" << name << "' is idle: its socket is open and the guest ("
              << s["driver"].get<std::string>() << " driver) boots on the next request\n";
  } else {
    std::cout << "berth profile '" << name << "' is " << (state == "Running" ? "running" : state)
              << " using the " << s["driver"].get<std::string>() << " driver\n";
  }
  std::cout << "arch: " << s["arch"].get<std::string>() << "\n"
            << "runtime: " << s["runtime"].get<std::string>() << "\n";
  // Only the API in force: a containerd profile's docker.sock answers every request with how
  // to use the profile, and it has no docker context.
  if (s["dockerHost"].is_string()) {
    std::cout << "socket: " << s["dockerHost"].get<std::string>() << "\n"
              << "context: " << s["context"].get<std::string>() << "\n";
  }
  if (s.value("containerdSocket", nlohmann::json()).is_string()) {
    std::cout << "containerd socket: " << s["containerdSocket"].get<std::string>()
              << "  (ctr --address ..., or berth ctr -- ARGS)\n";
    if (s.value("containerdSocketDirect", false))
      std::cout << "containerd socket serves: containerd itself (no relay while the guest runs)\n";
  }
  if (s.value("containerdVersion", nlohmann::json()).is_string()) {  // containerd's own answer
    std::cout << "containerd version: " << s["containerdVersion"].get<std::string>() << "\n";
  }
  if (!s["address"].get<std::string>().empty()) {
    std::cout << "address: " << s["address"].get<std::string>() << "\n";
  }
  if (s.contains("listen")) {
    // What a docker client sets to use the TCP listener(s) (`listen:` / --listen).
    for (const auto& l : s["listen"]) {
      std::cout << "listen: " << l["dockerHost"].get<std::string>()
                << (l.value("tlsVerify", false) ? " (mutual TLS)" : " (plain TCP)") << "\n"
                << "  export DOCKER_HOST=" << l["dockerHost"].get<std::string>();
      if (l.value("tlsVerify", false)) {
        std::cout << " DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=" << l["certPath"].get<std::string>();
      }
      std::cout << "\n";
    }
  }
  if (s.value("image", nlohmann::json()).is_object()) {
    std::cout << "image: " << s["image"]["url"].get<std::string>() << " (sha256 "
              << s["image"]["sha256"].get<std::string>() << ")\n";
  }
  for (const auto& m : s["mounts"]) {
    std::cout << "mount: " << m["location"].get<std::string>() << " -> "
              << m["mountPoint"].get<std::string>()
              << (m["writable"].get<bool>() ? " (rw)" : " (ro)") << "\n";
  }
  // Sections the daemon adds while it runs (port forwarding).
  // What a forward reaches: "web:80", or "guest listener :8080" for a port no container publishes.
  const auto target = [](const nlohmann::json& f) {
    if (f.value("origin", "") == "guest listener")
      return "guest listener :" + std::to_string(f.value("guestPort", 0));
    return f.value("container", "") + ":" + std::to_string(f.value("containerPort", 0));
  };
  for (const auto& f : s.value("forwards", nlohmann::json::array())) {
    std::cout << "forward: " << f.value("proto", "") << " " << f.value("host", "") << " -> "
              << target(f) << " (" << f.value("path", "relay");
    if (f.contains("wake")) std::cout << ", " << f.value("wake", "");  // asleep, waking, awake
    std::cout << ")\n";
  }
  if (s.contains("forwardGuestListeners"))
    std::cout << "forwarding guest listeners: " << s["forwardGuestListeners"].get<std::string>()
              << "\n";
  if (s.contains("forwardNat") && !s["forwards"].empty())
    std::cout << "forwarding 127.0.0.1: " << s["forwardNat"].get<std::string>() << "\n";
  for (const auto& c : s.value("forwardConflicts", nlohmann::json::array())) {
    std::cout << "port conflict: " << c.value("proto", "") << " " << c.value("host", "")
              << " wanted by " << c.value("container", "") << ": " << c.value("error", "") << "\n";
  }
  // Forwards the driver can never open (e.g. a port on the guest's IPv6 loopback under qemu).
  for (const auto& r : s.value("forwardRefused", nlohmann::json::array())) {
    std::cout << "not forwarded: " << r.value("proto", "") << " " << r.value("host", "") << " for "
              << target(r) << ": " << r.value("error", "") << "\n";
  }
  if (s.contains("domains") && s["domains"].is_object()) {
    // Containers by name (server/domains): the front's address, and what a resolver needs.
    const auto& d = s["domains"];
    if (d.value("enabled", false)) {
      std::cout << "names: " << d.value("url", "") << " (and <service>.<project>."
                << s["profile"].get<std::string>() << ".berth.localhost for compose)\n";
      const int shared = d.value("sharedPort", 0);
      if (shared != 0 && d.value("sharedPortState", "") != "held") {
        std::cout << "  port " << shared << " is not this profile's ("
                  << d.value("sharedPortState", "") << "): use port " << d.value("port", 0) << "\n";
      }
      std::cout << "  *.localhost is 127.0.0.1 in browsers, curl and systemd-resolved; elsewhere "
                   "add the name to /etc/hosts\n";
    } else if (!d.value("off", "").empty()) {
      std::cout << "names: off (" << d.value("off", "") << ")\n";
    }
  }
  if (s.contains("wake") && s["wake"].is_object() && !s["wake"].value("enabled", true))
    std::cout << "wake: off (" << s["wake"].value("off", "") << ")\n";
  if (s.contains("wake") && s["wake"].is_object() && s["wake"].contains("problems")) {
    for (const auto& p : s["wake"]["problems"])
      std::cout << "wake: " << p.value("container", "") << ": " << p.value("problem", "") << "\n";
  }
  if (extended) {
    std::cout << "cpus: " << s["cpus"] << "\n"
              << "memory: " << gib(s["memory"].get<double>()) << "\n"
              << "disk: " << diskText(s["disk"]) << "\n";
    const auto& boot = s["boot"];
    std::cout << "boot: " << (boot.value("lazy", false) ? "lazy" : "at start") << ", idle stop: "
              << (boot.value("idleStop", std::string()).empty()
                      ? "never"
                      : boot["idleStop"].get<std::string>())
              << "\n";
    if (s.contains("guest")) {
      std::cout << "guest: " << s["guest"]["state"].get<std::string>()
                << (s["guest"]["detail"].get<std::string>().empty()
                        ? ""
                        : " (" + s["guest"]["detail"].get<std::string>() + ")")
                << "\n";
    }
    if (s["daemon"].value("running", false)) {
      std::cout << "daemon: pid " << s["daemon"]["pid"] << ", log "
                << s["daemon"]["log"].get<std::string>() << "\n";
    }
  }
}

void runStatus(const StatusOptions& o) {
  ProfileClient client(o.profile);
  client.requireExists();
  const nlohmann::json s = statusOf(client);
  const bool up = s["daemon"].value("running", false);
  if (o.json) {
    std::cout << s.dump() << "\n";
  } else if (up) {
    printHuman(s, o.extended);
  }
  if (!up) {
    if (!o.json) {
      std::cerr << "berth: profile '" << client.paths().name << "' is "
                << (s["status"] == "Running" ? std::string("running (") + kOrphaned + ")"
                                             : "not running")
                << "\n";
    }
    std::exit(1);  // as colima status: scripts can test it
  }
}

// The status `berth list --all` shows for a deleted profile whose container data was kept.
constexpr const char* kDeleted = "Deleted";

void runList(bool json, bool all) {
  const std::string home = vm::ProfilePaths::home();
  std::vector<nlohmann::json> rows;
  for (const auto& name : vm::ProfilePaths::list(home)) {
    ProfileClient client(vm::ProfilePaths::forProfile(name, home));
    nlohmann::json s;
    try {
      s = statusOf(client);
    } catch (const std::exception& e) {
      // One broken berth.yaml must not hide the other profiles: list it, say why on stderr.
      std::cerr << "berth: " << e.what() << "\n";
      s = {{"status", "Invalid"},
           {"driver", ""},
           {"arch", ""},
           {"cpus", 0},
           {"memory", 0},
           {"disk", 0},
           {"runtime", ""},
           {"address", ""},
           {"socket", client.paths().docker_socket},
           {"daemon", {{"running", false}}}};
    }
    rows.push_back({{"name", name},
                    {"status", overallStatus(s)},
                    {"driver", s["driver"]},
                    {"arch", s["arch"]},
                    {"cpus", s["cpus"]},
                    {"memory", s["memory"]},
                    {"disk", s["disk"]},
                    {"runtime", s["runtime"]},
                    {"containerdSocket", s.value("containerdSocket", nlohmann::json())},
                    {"containerdVersion", s.value("containerdVersion", nlohmann::json())},
                    {"address", s["address"]},
                    {"socket", s["socket"]}});
  }
  if (all) {
    for (const auto& name : ProfileClient::namesWithKeptData(home)) {
      ProfileClient client(vm::ProfilePaths::forProfile(name, home));
      rows.push_back({{"name", name}, {"status", kDeleted}, {"data", client.keptData()}});
    }
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a["name"] < b["name"]; });
  }
  if (json) {
    for (const auto& row : rows) std::cout << row.dump() << "\n";
    return;
  }
  TextTable table({"PROFILE", "STATUS", "ARCH", "CPUS", "MEMORY", "DISK", "RUNTIME", "ADDRESS"});
  for (const auto& row : rows) {
    if (row["status"] == kDeleted) {
      table.add({row["name"].get<std::string>(), kDeleted});
      continue;
    }
    table.add({row["name"].get<std::string>(), row["status"].get<std::string>(),
               row["arch"].get<std::string>(), std::to_string(row["cpus"].get<int>()),
               gib(row["memory"].get<double>()), diskText(row["disk"]), runtimeText(row),
               row["address"].get<std::string>()});
  }
  table.print(std::cout);
  if (all && std::any_of(rows.begin(), rows.end(),
                         [](const auto& r) { return r["status"] == kDeleted; })) {
    std::cerr << "berth: " << kDeleted << ": a deleted profile whose container data was kept; "
              << "berth delete --data NAME removes it, berth start NAME uses it again\n";
  }
}

}  // namespace

void registerStatusCommands(CLI::App& app) {
  auto o = std::make_shared<StatusOptions>();
  auto* status =
      app.add_subcommand("status", "Show a profile's status (exit 1 when it is not running)");
  o->profile.addTo(status);
  status->add_flag("-e,--extended", o->extended,
                   "Also show cpus, memory, disk, boot and daemon details");
  status->add_flag("-j,--json", o->json, "Print the status as one JSON object");
  status->callback([o] { runStatus(*o); });

  auto list_json = std::make_shared<bool>(false);
  auto list_all = std::make_shared<bool>(false);
  auto* list = app.add_subcommand("list", "List the profiles");
  list->alias("ls");
  list->add_flag("-j,--json", *list_json, "Print one JSON object per profile, one per line");
  list->add_flag("-a,--all", *list_all, "Also list deleted profiles whose container data was kept");
  list->callback([list_json, list_all] { runList(*list_json, *list_all); });

  auto version_args = std::make_shared<ProfileArgs>();
  auto* version = app.add_subcommand("version", "Print berth's version (and the running engine's)");
  version_args->addTo(version);
  version->callback([version_args] {
    std::cout << "berth version " << kBerthVersion << "\n";
    ProfileClient client(*version_args);
    auto s = client.status(std::chrono::seconds(2));
    if (!s || (*s)["status"] != "Running") return;
    if (s->value("containerdVersion", nlohmann::json()).is_string()) {  // no Docker API there
      std::cout << "\nprofile: " << client.paths().name
                << "\nruntime: containerd\nengine: containerd "
                << (*s)["containerdVersion"].get<std::string>() << "\n";
      return;
    }
    auto reply = net::HttpClient::unixSocket(client.paths().docker_socket)
                     .get("/version", std::chrono::seconds(5));
    // An engine that answers with something other than a version object adds no lines.
    const auto v = nlohmann::json::parse(reply.body, nullptr, false);
    if (reply.status != 200 || !v.is_object()) return;
    std::cout << "\nprofile: " << client.paths().name << "\nruntime: " << (*s).value("runtime", "?")
              << "\nengine: " << v.value("Version", "?") << " (API " << v.value("ApiVersion", "?")
              << ")\n";
  });
}

}  // namespace berth::cli
