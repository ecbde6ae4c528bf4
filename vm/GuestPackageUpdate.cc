#include "vm/GuestPackageUpdate.h"

#include <future>
#include <sstream>
#include <utility>

#include "server/net/ChildProcess.h"

namespace berth::vm {
namespace {

using namespace std::chrono_literals;

// apt's English output, and no question ever asked (a prompt over ssh without a tty would hang).
constexpr const char* kAptEnv = "export LC_ALL=C DEBIAN_FRONTEND=noninteractive; ";

std::string lastLine(const std::string& output) {
  const auto end = output.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "(no output)";
  const auto newline = output.rfind('\n', end);
  const auto begin = newline == std::string::npos ? 0 : newline + 1;
  return output.substr(begin, end + 1 - begin);
}

// The value after "Key:" on one line of apt-cache policy ("  Installed: 1.2-3" -> "1.2-3").
std::string fieldValue(const std::string& line, const std::string& key) {
  const auto at = line.find_first_not_of(' ');
  if (at == std::string::npos || line.compare(at, key.size(), key) != 0) return {};
  std::string value = line.substr(at + key.size());
  value.erase(0, value.find_first_not_of(' '));
  value.erase(value.find_last_not_of(" \r") + 1);
  return value;
}

// A Debian version as it may appear in a shell word: apt's own output, checked anyway because
// it goes into a command line.
bool plainVersion(const std::string& version) {
  if (version.empty()) return false;
  for (const char c : version) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '.' || c == '+' || c == '~' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

GuestPackageUpdate::GuestPackageUpdate(const Driver& driver, std::string package,
                                       std::string service)
    : driver_(driver), package_(std::move(package)), service_(std::move(service)) {}

PackageVersions GuestPackageUpdate::parsePolicy(const std::string& package,
                                                const std::string& output) {
  PackageVersions versions;
  bool named = false, installed = false, candidate = false;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line == package + ":") named = true;
    if (!named) continue;
    if (!installed && line.find("Installed:") != std::string::npos) {
      versions.installed = fieldValue(line, "Installed:");
      installed = true;
    } else if (!candidate && line.find("Candidate:") != std::string::npos) {
      versions.candidate = fieldValue(line, "Candidate:");
      candidate = true;
    }
  }
  if (!named || !installed || !candidate) {
    throw DriverError("apt-cache policy " + package +
                      " in the guest did not say its versions: " + lastLine(output));
  }
  if (versions.installed == "(none)") versions.installed.clear();
  if (versions.candidate == "(none)") versions.candidate.clear();
  return versions;
}

std::string GuestPackageUpdate::upstreamVersion(const std::string& version) {
  const auto epoch = version.find(':');
  std::string upstream = epoch == std::string::npos ? version : version.substr(epoch + 1);
  const auto revision = upstream.rfind('-');
  if (revision != std::string::npos) upstream.erase(revision);
  return upstream;
}

std::string GuestPackageUpdate::inGuest(const std::string& script, const std::string& what,
                                        std::chrono::seconds timeout,
                                        const ProgressSink& progress) const {
  // ssh hands its command to the guest's login shell as one line: the script is that line.
  const auto argv = driver_.shellArgv({script}, false);
  auto running = std::async(std::launch::async,
                            [&argv, timeout] { return net::ChildProcess::run(argv, timeout); });
  const auto start = std::chrono::steady_clock::now();
  while (running.wait_for(30s) != std::future_status::ready) {
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
    if (progress) progress(what + ": still running (" + std::to_string(seconds.count()) + "s)");
  }
  const net::RunResult result = running.get();
  if (result.timed_out) {
    throw DriverError(what + " did not finish in the guest within " +
                      std::to_string(timeout.count()) + "s");
  }
  // ssh's own failures (guest unreachable, key refused) exit 255.
  if (result.exit_code == 255) {
    throw DriverError("cannot reach the guest over ssh for " + what + ": " +
                      lastLine(result.output));
  }
  if (result.exit_code != 0)
    throw DriverError(what + " failed in the guest: " + lastLine(result.output));
  return result.output;
}

PackageVersions GuestPackageUpdate::check(const ProgressSink& progress) const {
  if (progress) progress("apt-get update in the guest (slow without KVM)");
  // --error-on=any: a source that cannot be read is a failure, not a warning beside an old list.
  inGuest(std::string(kAptEnv) + "apt-get update -q --error-on=any", "apt-get update", 900s,
          progress);
  return parsePolicy(package_, inGuest(std::string(kAptEnv) + "apt-cache policy " + package_,
                                       "apt-cache policy " + package_, 300s, progress));
}

std::string GuestPackageUpdate::install(const std::string& version,
                                        const ProgressSink& progress) const {
  if (!plainVersion(version)) throw DriverError("not a package version: '" + version + "'");
  if (progress) progress("installing " + package_ + " " + version + " in the guest");
  inGuest(std::string(kAptEnv) +
              "apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef "
              "-o Dpkg::Options::=--force-confold " +
              package_ + "=" + version,
          "apt-get install " + package_ + "=" + version, 1200s, progress);
  // The package's own scripts may or may not have restarted it: restart it once, so the new
  // program surely runs, and wait for systemd to call it active.
  if (progress) progress("restarting " + service_ + " in the guest");
  inGuest("systemctl restart " + service_ + " && systemctl is-active " + service_,
          "systemctl restart " + service_, 600s, progress);
  std::string now = inGuest("dpkg-query -W -f='${Version}' " + package_, "dpkg-query " + package_,
                            120s, progress);
  now.erase(now.find_last_not_of(" \r\n") + 1);
  return now;
}

}  // namespace berth::vm
