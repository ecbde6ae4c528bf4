#include "vm/QemuDriver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string_view>

#include "api/Numbers.h"
#include "server/net/ChildProcess.h"
#include "server/net/Digest.h"
#include "server/net/Files.h"
#include "server/net/Log.h"
#include "vm/ContainerdRuntime.h"
#include "vm/GuestFileCopy.h"
#include "vm/GuestImage.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"
#include "vm/QemuCommandLine.h"
#include "vm/QemuGuestConfig.h"
#include "vm/QemuOrphan.h"
#include "vm/QmpClient.h"
#include "vm/TlsMaterial.h"

namespace berth::vm {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kSnapshotTag = "berth-resume";

// Each word in single quotes (a quote in it as '\''): the guest's shell, which ssh hands the
// command line to, passes every word on as given.
std::vector<std::string> shellWords(const std::vector<std::string>& words) {
  std::vector<std::string> quoted;
  for (const auto& word : words) {
    std::string q = "'";
    for (char c : word) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    quoted.push_back(q + "'");
  }
  return quoted;
}

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string fixed1(double seconds) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << seconds << "s";
  return out.str();
}

// A TCP port on 127.0.0.1 that nothing listens on now (`preferred` when it is free).
std::uint16_t freeLoopbackPort(std::uint16_t preferred) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw DriverError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(preferred);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    addr.sin_port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      throw DriverError(std::string("no free loopback port: ") + std::strerror(errno));
    }
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

QemuDriver::QemuDriver(QemuOptions options)
    : options_(std::move(options)), runtime_(Runtime::make(options_.runtime)) {
  if (options_.state_dir.empty()) throw DriverError("qemu driver: no state directory");
  if (runtime_->servesContainerdApi()) {
    containerd_forward_ = std::make_unique<SshSocketForward>(
        path("containerd.sock"), ContainerdRuntime::kVmSocket, path("containerd-forward.log"));
  }
  if (runtime_->servesDockerApi()) {  // the names front reaches containers through it
    dialer_ = std::make_unique<GuestSocksDialer>(
        path("guest-socks.sock"), path("guest-socks.log"), [this] { return sshArgv({}, false); },
        std::chrono::seconds(60));
  }
}

QemuDriver::~QemuDriver() {
  // The daemon stops the guest before it drops the driver; a QEMU still running here has
  // lost its supervisor, so it goes too instead of running on unseen.
  if (qemuAlive()) killQemu();
  stopVirtiofsd();
}

std::string QemuDriver::path(const std::string& name) const {
  return options_.state_dir + "/" + name;
}

bool QemuDriver::hardwareVirtualization() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream flags(line.substr(line.find(':') + 1));
    std::string flag;
    while (flags >> flag)
      if (flag == "vmx" || flag == "svm") return true;
    return false;
  }
  return false;
}

std::string QemuDriver::detectAccel() {
  if (const char* forced = std::getenv("BERTH_QEMU_ACCEL"); forced && *forced) return forced;
#ifdef __APPLE__
  return "hvf";
#else
  // /dev/kvm alone is not enough: a sandbox may offer a paravirtual KVM (kvm_pvm) that only
  // boots PVM-aware guest kernels. A stock guest needs VT-x/AMD-V visible to this host.
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return "tcg";
  close(fd);
  return hardwareVirtualization() ? "kvm" : "tcg";
#endif
}

QemuOptions QemuDriver::optionsFor(const ProfileConfig& config, const ProfilePaths& paths) {
  QemuOptions options;
  options.profile = paths.name;
  options.state_dir = paths.state_dir;
  options.arch = config.arch.empty() ? hostArch() : config.arch;
  options.cpus = config.cpus;
  options.memory_mib = static_cast<int>(config.memory * 1024);
  options.disk_gib = config.disk;
  options.shares = config.effectiveMounts();
  options.mount_type = config.mount_type;
  options.dns = config.network.dns;
  options.docker = config.docker;
  options.env = config.env;
  options.runtime = config.runtime.empty() ? "docker" : config.runtime;
  options.containerd_user_config = ContainerdRuntime::userConfigFile(paths);
  options.nerdctl_binary = config.nerdctl.binary;
  options.disk_image = GuestImage::folderFor(config);
  if (const char* timeout = std::getenv("BERTH_QEMU_BOOT_TIMEOUT"); timeout && *timeout) {
    const auto seconds = api::parseWhole<unsigned>(timeout);
    if (seconds && *seconds > 0)
      options.boot_timeout = std::chrono::seconds(*seconds);  // a bad value keeps the default
  }
  return options;
}

std::string QemuDriver::guestEngineSocket() const {
  return runtime_->servesDockerApi() ? "/var/run/docker.sock" : ContainerdRuntime::kVmSocket;
}

EngineEndpoint QemuDriver::engine() const {
  EngineEndpoint endpoint;
  if (containerd_forward_) {
    endpoint.unix_path = containerd_forward_->local();
    return endpoint;
  }
  endpoint.kind = EngineEndpoint::Kind::TlsTcp;
  endpoint.host = "127.0.0.1";
  endpoint.port = ports_.engine;
  const auto tls = TlsMaterial::layout(path("tls"));
  endpoint.ca_file = tls.client_ca;
  endpoint.cert_file = tls.client_cert;
  endpoint.key_file = tls.client_key;
  return endpoint;
}

GuestStatus QemuDriver::status() const {
  const auto qemu = process();
  std::lock_guard lock(mutex_);
  GuestStatus status;
  status.state = state_;
  status.detail = detail_;
  if ((state_ == GuestState::Running || state_ == GuestState::Starting) &&
      (!qemu || !qemu->running())) {
    status.state = GuestState::Broken;
    status.detail = "qemu " + exitOf(qemu) + " unexpectedly; see " + path("qemu.log") + " and " +
                    path("serial.log");
  }
  return status;
}

std::shared_ptr<net::ChildProcess> QemuDriver::process() const {
  std::lock_guard lock(mutex_);
  return qemu_;
}

std::string QemuDriver::exitOf(const std::shared_ptr<net::ChildProcess>& qemu) {
  if (!qemu) return "exited";
  auto status = qemu->wait(std::chrono::milliseconds(0));
  return status ? status->describe() : "runs";
}

bool QemuDriver::qemuAlive() const {
  const auto qemu = process();
  return qemu && qemu->running();
}

// ---- preparation -------------------------------------------------------------------------

void QemuDriver::ensureKeys() {
  fs::create_directories(path("ssh"));
  ::chmod(options_.state_dir.c_str(), 0700);
  for (const char* key : {"ssh/id_ed25519", "ssh/host_ed25519"}) {
    if (fs::exists(path(key))) continue;
    net::ChildProcess::check({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                              "berth-" + options_.profile, "-f", path(key)},
                             "ssh-keygen");
  }
  // The engine's mutual TLS: dockerd in the guest gets the CA and the server pair (via the
  // config share); the client pair stays on the host, for the daemon only.
  TlsMaterial::ensure(path("tls"), {"127.0.0.1", "localhost", QemuCommandLine::kGuestAddress});
}

void QemuDriver::ensureOverlay(const ProgressSink& progress) {
  // The disk lives in data/, which `berth delete` keeps unless --data (the containers' data).
  fs::create_directories(path("data"));
  const std::string overlay = path("data/disk.qcow2");
  const std::string image_record = path("data/image");
  // A profile keeps the image its overlay was made on (the overlay is a diff against it).
  std::string recorded = fs::exists(image_record) ? net::Files::readOr(image_record) : "";
  while (!recorded.empty() && recorded.back() == '\n') recorded.pop_back();
  if (!fs::exists(overlay)) recorded.clear();
  GuestImage image = GuestImage::find(recorded.empty() ? options_.disk_image : recorded);
  image_dir_ = image.dir;
  kernel_ = image.kernel;
  initrd_ = image.initrd;
  recipe_ = image.recipe;
  const long long want = static_cast<long long>(options_.disk_gib) << 30;
  if (!fs::exists(overlay)) {
    progress("qemu: creating the profile's disk (" + std::to_string(options_.disk_gib) +
             " GiB qcow2 overlay on " + image.dir + ")");
    net::ChildProcess::check({"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                              image.disk, overlay, std::to_string(want)},
                             "qemu-img create");
    net::Files::writeAtomic(image_record, image.dir + "\n", 0644);
  }
  auto info = net::ChildProcess::run({"qemu-img", "info", "-U", "--output=json", overlay});
  auto parsed = nlohmann::json::parse(info.output, nullptr, false);
  long long size = parsed.is_object() ? parsed.value("virtual-size", 0LL) : 0LL;
  if (want > size) {
    // Growing the disk changes the machine: the saved state (if any) cannot be resumed.
    net::ChildProcess::run({"qemu-img", "snapshot", "-d", kSnapshotTag, overlay});
    net::ChildProcess::check({"qemu-img", "resize", "-q", overlay, std::to_string(want)},
                             "qemu-img resize");
    if (size > 0) progress("qemu: disk grown to " + std::to_string(options_.disk_gib) + " GiB");
  } else if (want < size && size > 0) {
    progress("qemu: disk stays at " + std::to_string(size >> 30) + " GiB (disks only grow)");
  }
}

void QemuDriver::pickPorts() {
  Ports recorded;
  auto saved = nlohmann::json::parse(net::Files::readOr(path("ports.json")), nullptr, false);
  if (saved.is_object()) {
    recorded.ssh = saved.value("ssh", std::uint16_t{0});
    recorded.engine = saved.value("engine", std::uint16_t{0});
  }
  ports_.ssh = freeLoopbackPort(recorded.ssh);
  // Only dockerd listens on the guest's engine port: a containerd guest gets no forward to it.
  ports_.engine = 0;
  if (runtime_->servesDockerApi()) {
    ports_.engine = freeLoopbackPort(recorded.engine);
    if (ports_.engine == ports_.ssh) ports_.engine = freeLoopbackPort(0);
  }
  net::Files::writeAtomic(
      path("ports.json"),
      nlohmann::json{{"ssh", ports_.ssh}, {"engine", ports_.engine}}.dump() + "\n", 0644);
}

void QemuDriver::prepare(const ProgressSink& progress) {
  if (options_.arch != "x86_64")
    throw DriverError("--arch " + options_.arch +
                      ": contrib/guest/build-image.sh builds x86_64 guests only");
  fs::create_directories(options_.state_dir);
  accel_ = options_.accel == "auto" ? detectAccel() : options_.accel;
  if (accel_ == "tcg")
    progress(
        "qemu: no hardware virtualisation (KVM/HVF) here: using TCG emulation, "
        "expect a slow first boot (about 1-2 minutes)");
  ensureKeys();
  ensureOverlay(progress);
  std::string mount_type = options_.mount_type;
  virtiofsd_.clear();
  if (mount_type == "virtiofs" && !options_.shares.empty()) {
    for (const char* candidate :
         {"virtiofsd", "/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"}) {
      virtiofsd_ = net::ChildProcess::which(candidate);
      if (!virtiofsd_.empty()) break;
    }
    if (virtiofsd_.empty()) {
      progress(
          "qemu: --mount-type virtiofs needs virtiofsd, which is not installed: sharing with 9p");
      mount_type = "9p";
    } else if (options_.resume) {
      progress(
          "qemu: virtiofs shares cannot be saved with the VM state: every start is a full boot");
    }
  }
  GuestConfigInput input;
  input.authorized_key = net::Files::readOr(path("ssh/id_ed25519.pub"));
  input.host_private_key = net::Files::readOr(path("ssh/host_ed25519"));
  input.host_public_key = net::Files::readOr(path("ssh/host_ed25519.pub"));
  const auto tls = TlsMaterial::layout(path("tls"));
  input.tls_ca = net::Files::readOr(tls.ca_cert);
  input.tls_server_cert = net::Files::readOr(tls.server_cert);
  input.tls_server_key = net::Files::readOr(tls.server_key);
  input.docker = options_.docker;
  input.dns = options_.dns;
  input.env = options_.env;
  input.shares = options_.shares;
  input.mount_type = mount_type;
  input.runtime = runtime_->name();
  // Both runtimes: the image's config (Debian's) enables the CRI plugin, whose stream server
  // listens on the guest's 127.0.0.1 and would be forwarded as a user's listener.
  input.containerd_config = ContainerdRuntime::vmConfig(options_.containerd_user_config);
  for (const auto& share : options_.shares) {
    if (!fs::is_directory(share.location))
      throw DriverError("mount " + share.location + ": not a folder on this host");
  }
  QemuGuestConfig::write(path("config"), input);
  // Pins the guest's host key to this profile: ssh checks it under a fixed alias, whatever port.
  std::string host_pub = input.host_public_key;
  net::Files::writeAtomic(path("ssh/known_hosts"), "berth-" + options_.profile + " " + host_pub,
                          0644);
  pickPorts();
}

// Everything a saved VM state depends on: the machine's argv (without ports and sockets),
// the guest config, the image and the QEMU binary. Any change means a full boot.
std::string QemuDriver::stateKey(const QemuLaunchSpec& spec) const {
  std::string key = QemuCommandLine::machineKey(spec) + "\n" + recipe_ + "\n" + image_dir_;
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(path("config")))
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) key += "\n" + file + "\n" + net::Files::readOr(file);
  std::error_code ec;
  std::string qemu = net::ChildProcess::which(spec.qemu_binary);
  if (!qemu.empty())
    key += "\n" + qemu + std::to_string(fs::file_size(qemu, ec)) +
           std::to_string(fs::last_write_time(qemu, ec).time_since_epoch().count());
  return net::Digest::sha256Hex(key);
}

// ---- lifecycle ---------------------------------------------------------------------------

void QemuDriver::start(const ProgressSink& progress) {
  const ProgressSink say = [&](const std::string& line) {
    BERTH_LOG(Info, "qemu", line);
    if (progress) progress(line);
  };
  if (qemuAlive()) {
    std::string error;
    if (engineAnswers(5s, error)) return;
    say("qemu: a guest from an earlier run is still up but its engine does not answer: restarting "
        "it");
    killQemu();
  }
  {
    // A guest booted or adopted now holds no redirect berth knows of.
    std::lock_guard lock(loopback_mutex_);
    loopback_dnat_.forget();
  }
  if (!process() && adoptOrphan(say)) return;
  {
    std::lock_guard lock(mutex_);
    state_ = GuestState::Starting;
    detail_ = "booting";
  }
  try {
    prepare(say);
    QemuLaunchSpec spec;
    const std::string qemu_binary = qemuBinary();
    if (net::ChildProcess::which(qemu_binary).empty())
      throw DriverError(qemu_binary +
                        " is not installed (Debian: apt-get install qemu-system-x86)");
    spec.qemu_binary = qemu_binary;
    spec.arch = options_.arch;
    spec.accel = accel_;
    spec.cpus = options_.cpus;
    spec.memory_mib = options_.memory_mib;
    spec.kernel = kernel_;
    spec.initrd = initrd_;
    spec.disk = path("data/disk.qcow2");
    spec.config_dir = path("config");
    spec.shares = options_.shares;
    if (!virtiofsd_.empty()) spec.virtiofs_sockets = startVirtiofsd();
    spec.ssh_port = ports_.ssh;
    spec.engine_port = ports_.engine;
    spec.qmp_socket = path("qmp.sock");
    spec.pid_file = path("qemu.pid");
    spec.serial_log = path("serial.log");
    state_key_ = stateKey(spec);
    const bool resumable = options_.resume && virtiofsd_.empty() &&
                           net::Files::readOr(path("resume.stamp")) == state_key_ &&
                           net::ChildProcess::run({"qemu-img", "snapshot", "-l", "-U", spec.disk})
                                   .output.find(kSnapshotTag) != std::string::npos;
    // From here on the disk moves past any saved state: never resume it after this boot.
    fs::remove(path("resume.stamp"));
    if (resumable) {
      spec.loadvm_tag = kSnapshotTag;
      argv_ = QemuCommandLine::build(spec);
      try {
        boot(say, true);
        return;
      } catch (const DriverError& e) {
        say(std::string("qemu: resuming the saved state failed (") + e.what() +
            "): booting from scratch");
        killQemu();
        net::ChildProcess::run({"qemu-img", "snapshot", "-d", kSnapshotTag, spec.disk});
      }
    } else if (options_.resume) {
      say("qemu: no valid saved state: full boot");
    }
    spec.loadvm_tag.clear();
    argv_ = QemuCommandLine::build(spec);
    boot(say, false);
  } catch (const std::exception& e) {
    if (qemuAlive()) killQemu();
    if (containerd_forward_) containerd_forward_->stop();
    if (dialer_) dialer_->stop();
    stopVirtiofsd();
    cleanupRuntimeFiles();
    std::lock_guard lock(mutex_);
    state_ = GuestState::Stopped;
    detail_ = e.what();
    throw DriverError(e.what());
  }
}

void QemuDriver::launch(const std::vector<std::string>& argv) {
  cleanupRuntimeFiles();
  std::ofstream(path("serial.log"), std::ios::trunc).close();
  {
    std::ofstream log(path("qemu.log"), std::ios::app);
    log << "---- " << std::time(nullptr) << " starting:";
    for (const auto& arg : argv) log << " " << arg;
    log << "\n";
  }
  net::SpawnOptions spawn;
  spawn.argv = argv;
  spawn.output = path("qemu.log");
  spawn.new_session = true;  // a terminal's Ctrl-C stops the daemon, which stops the guest
  // What a daemon started after this one is killed needs to adopt this QEMU.
  QemuBootRecord{settingsKey(), state_key_, accel_, virtiofsd_, ports_.ssh, ports_.engine}.save(
      path("boot.json"));
  auto qemu = std::make_shared<net::ChildProcess>(net::ChildProcess::spawn(spawn));
  std::lock_guard lock(mutex_);
  qemu_ = std::move(qemu);
}

void QemuDriver::boot(const ProgressSink& say, bool resume) {
  std::chrono::seconds timeout = options_.boot_timeout;
  if (timeout.count() == 0) timeout = accel_ == "tcg" ? 600s : 180s;
  if (resume) timeout = std::min<std::chrono::seconds>(timeout, 120s);
  say(resume ? "qemu: resuming the saved VM state" : "qemu: booting the guest (" + accel_ + ")");
  const auto t0 = Clock::now();
  launch(argv_);
  waitEngine(t0, timeout, say);
  const double engine_s = secondsSince(t0);
  if (resume) {
    // The guest's clock stopped when it was saved, and its shares were unmounted for the save.
    auto result = remountShares();
    if (result.exit_code != 0)
      throw DriverError("could not remount the shares after resuming: " + result.output);
    say("qemu: resumed: engine answered in " + fixed1(engine_s) +
        ", shares remounted and clock set at " + fixed1(secondsSince(t0)));
  } else {
    reportPhases(t0, engine_s, say);
  }
  syncNerdctl(say);
  std::lock_guard lock(mutex_);
  state_ = GuestState::Running;
  detail_ = std::string(resume ? "resumed" : "booted") + " with " + accel_ + "; " + endpointText();
}

std::string QemuDriver::endpointText() const {
  const std::string ssh = "ssh 127.0.0.1:" + std::to_string(ports_.ssh);
  if (containerd_forward_) return ssh + " (containerd's socket forwarded over it)";
  return ssh + ", engine 127.0.0.1:" + std::to_string(ports_.engine);
}

void QemuDriver::syncNerdctl(const ProgressSink& say) {
  if (!runtime_->servesContainerdApi()) return;
  const std::string marker = path("nerdctl.copied");  // berth put one there
  const GuestFileCopy::Exec exec = [this](const std::vector<std::string>& words) {
    return sshArgv(shellWords(words), false);
  };
  if (options_.nerdctl_binary.empty()) {
    if (!fs::exists(marker)) return;
    GuestFileCopy::remove(exec, ContainerdRuntime::kVmNerdctl, 60s);
    fs::remove(marker);
    say(std::string("qemu: removed ") + ContainerdRuntime::kVmNerdctl +
        " from the guest (nerdctl.binary is no longer set)");
    return;
  }
  const auto t0 = Clock::now();
  const auto outcome =
      GuestFileCopy::install(exec, options_.nerdctl_binary, ContainerdRuntime::kVmNerdctl, 300s);
  net::Files::writeAtomic(marker, options_.nerdctl_binary + "\n", 0644);
  say(outcome == GuestFileCopy::Outcome::Copied
          ? "qemu: nerdctl.binary copied to the guest's " +
                std::string(ContainerdRuntime::kVmNerdctl) + " in " + fixed1(secondsSince(t0))
          : "qemu: the guest's " + std::string(ContainerdRuntime::kVmNerdctl) +
                " is nerdctl.binary already (checked in " + fixed1(secondsSince(t0)) +
                ", not copied)");
}

namespace {

// The guest writes "BERTH-PHASE <name> <uptime>" lines on its serial console.
std::vector<std::pair<std::string, std::string>> guestPhases(const std::string& serial_log) {
  std::vector<std::pair<std::string, std::string>> phases;
  std::istringstream serial(net::Files::readOr(serial_log));
  std::string line;
  while (std::getline(serial, line)) {
    auto at = line.find("BERTH-PHASE ");
    if (at == std::string::npos) continue;
    std::istringstream fields(line.substr(at + 12));
    std::string name, uptime;
    fields >> name >> uptime;
    if (!name.empty() && !uptime.empty()) phases.emplace_back(name, uptime);
  }
  return phases;
}

}  // namespace

bool QemuDriver::engineAnswers(std::chrono::milliseconds timeout, std::string& error) {
  if (containerd_forward_ && !containerd_forward_->ensure(sshArgv({}, false))) {
    error = "the ssh forward of containerd's socket is not up yet (see " +
            path("containerd-forward.log") + ")";
    return false;
  }
  return runtime_->answers(engine(), timeout, error);
}

bool QemuDriver::waitAnswering(Clock::time_point deadline,
                               const std::function<bool()>& keep_waiting, std::string& error) {
  error = "not asked yet";
  while (Clock::now() < deadline) {
    if (!keep_waiting()) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (engineAnswers(std::clamp<std::chrono::milliseconds>(left, 1ms, 3s), error)) return true;
    std::this_thread::sleep_for(500ms);
  }
  return false;
}

// Waits for a real answer from the engine, reporting each guest phase as the host sees it (the
// host clock: the guest's uptime starts only once its kernel is unpacked, seconds after QEMU).
void QemuDriver::waitEngine(Clock::time_point t0, std::chrono::seconds timeout,
                            const ProgressSink& say) {
  bool qmp_seen = false;
  std::size_t phases_seen = 0;
  auto next_note = t0 + 30s;
  phase_summary_.clear();
  // Between pings: QEMU must still run; each guest phase and a note every 30 s are reported.
  const auto keep_waiting = [&] {
    if (!qemuAlive()) {
      throw DriverError("qemu " + exitOf(process()) + ": " + lastLines(path("qemu.log"), 3));
    }
    if (!qmp_seen && fs::exists(path("qmp.sock"))) {
      qmp_seen = true;
      phase_summary_ += " qemu-up=" + fixed1(secondsSince(t0));
      say("qemu: phase qemu-up at " + fixed1(secondsSince(t0)) + " (QMP socket ready)");
    }
    auto phases = guestPhases(path("serial.log"));
    for (; phases_seen < phases.size(); ++phases_seen) {
      const auto& [name, uptime] = phases[phases_seen];
      phase_summary_ += " " + name + "=" + fixed1(secondsSince(t0));
      say("qemu: phase " + name + " at " + fixed1(secondsSince(t0)) + " (guest uptime " + uptime +
          "s)");
    }
    if (Clock::now() >= next_note) {
      say("qemu: still waiting for " + runtime_->engineProgram() + " (" + fixed1(secondsSince(t0)) +
          ")");
      next_note += 30s;
    }
    return true;
  };
  std::string error;
  if (waitAnswering(t0 + timeout, keep_waiting, error)) return;
  killQemu();
  if (containerd_forward_) containerd_forward_->stop();
  if (dialer_) dialer_->stop();
  throw DriverError(runtime_->engineProgram() + " in the qemu guest did not answer within " +
                    std::to_string(timeout.count()) + "s (last: " + error +
                    "); QEMU was stopped; guest console log: " + path("serial.log"));
}

void QemuDriver::reportPhases(Clock::time_point t0, double engine_s,
                              const ProgressSink& say) const {
  say("qemu: boot phases (host clock, from QEMU's start):" + phase_summary_ + " engine-answers-" +
      (containerd_forward_ ? "ssh" : "tls") + "=" + fixed1(engine_s) + "; ready at " +
      fixed1(secondsSince(t0)));
}

std::string QemuDriver::hmp(const std::string& command_line, std::chrono::seconds timeout) {
  std::lock_guard lock(qmp_mutex_);
  QmpClient qmp(timeout);
  qmp.connect(path("qmp.sock"));
  return qmp.human(command_line);
}

net::RunResult QemuDriver::remountShares() const {
  return net::ChildProcess::run(
      sshArgv({"sh", "/etc/berth/provision.sh", "resume", std::to_string(std::time(nullptr))},
              false),
      60s);
}

bool QemuDriver::saveState() {
  const auto t0 = Clock::now();
  if (state_key_.empty()) return false;  // an adopted QEMU without its record
  auto result =
      net::ChildProcess::run(sshArgv({"sh", "/etc/berth/provision.sh", "suspend"}, false), 60s);
  if (result.exit_code != 0) {
    BERTH_LOG(Warn, "qemu", "not saving the VM state: " << result.output);
    return false;
  }
  try {
    std::lock_guard lock(qmp_mutex_);
    QmpClient qmp(300s);
    qmp.connect(path("qmp.sock"));
    qmp.execute("stop");
    qmp.human(std::string("delvm ") + kSnapshotTag);
    std::string out = qmp.human(std::string("savevm ") + kSnapshotTag);
    if (!out.empty()) {
      BERTH_LOG(Warn, "qemu", "savevm failed: " << out);
      qmp.execute("cont");
      remountShares();
      return false;
    }
    net::Files::writeAtomic(path("resume.stamp"), state_key_, 0644);
    qmp.execute("quit");
  } catch (const std::exception& e) {
    BERTH_LOG(Warn, "qemu", "saving the VM state failed: " << e.what());
    fs::remove(path("resume.stamp"));
    return false;
  }
  BERTH_LOG(Info, "qemu", "VM state saved in " << fixed1(secondsSince(t0)));
  return waitExit(30s);
}

void QemuDriver::stop(bool force) {
  // `berth stop` with no daemon: the QEMU a killed daemon left running is stopped as ours would
  // be (its state saved when it can be), unless its guest cannot take part (QMP dead, paused).
  bool cooperative = true;
  if (!process()) {
    if (auto orphan = QemuOrphan::find(options_.state_dir, qemuBinary())) {
      const int pid = orphan->pid();
      const bool recorded = takeOrphan(std::move(*orphan)).has_value();
      std::string state;
      try {
        state = runState();
      } catch (const DriverError& e) {
        state = e.what();
      }
      cooperative = recorded && state == "running";
      BERTH_LOG(Info, "qemu",
                "stopping the guest left running by an earlier daemon (pid "
                    << pid << ", " << state << (recorded ? "" : ", no boot record") << ")");
    }
  }
  // Its clients go first: a forward's ssh session must not be saved with the VM state.
  if (containerd_forward_) containerd_forward_->stop();
  if (dialer_) dialer_->stop();
  if (!qemuAlive()) {
    stopVirtiofsd();
    cleanupRuntimeFiles();
    std::lock_guard lock(mutex_);
    state_ = GuestState::Stopped;
    detail_.clear();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    state_ = GuestState::Stopping;
  }
  bool down = false;
  if (!force && !cooperative) {
    quitQemu();
    down = true;
  }
  // vhost-user-fs (virtiofs) blocks migration, so savevm cannot work with it.
  if (!force && !down && options_.resume && virtiofsd_.empty()) down = saveState();
  if (!force && !down) {
    try {
      std::lock_guard lock(qmp_mutex_);
      QmpClient qmp(10s);
      qmp.connect(path("qmp.sock"));
      qmp.execute("cont");  // a VM paused by a failed save would ignore the power button
      qmp.execute("system_powerdown");
    } catch (const DriverError& e) {
      BERTH_LOG(Warn, "qemu", "ACPI power-down request failed: " << e.what());
    }
    down = waitExit(options_.stop_timeout);
    if (!down) BERTH_LOG(Warn, "qemu", "guest did not power off in time: killing QEMU");
  }
  if (!down) killQemu();
  stopVirtiofsd();
  cleanupRuntimeFiles();
  std::lock_guard lock(mutex_);
  state_ = GuestState::Stopped;
  detail_.clear();
}

bool QemuDriver::waitExit(std::chrono::milliseconds timeout) {
  const auto qemu = process();
  return !qemu || qemu->wait(timeout).has_value();
}

void QemuDriver::killQemu() {
  if (const auto qemu = process()) qemu->stop(5s);  // TERM, then KILL
}

// ---- a guest left running by a daemon that was killed ----------------------------------

bool QemuDriver::orphanRunning() const {
  return QemuOrphan::find(options_.state_dir, qemuBinary()).has_value();
}

std::string QemuDriver::settingsKey() const {
  nlohmann::json shares = nlohmann::json::array();
  for (const auto& share : options_.shares)
    shares.push_back({share.location, share.mount_point, share.writable});
  const nlohmann::json settings = {{"arch", options_.arch},
                                   {"accel", options_.accel},
                                   {"cpus", options_.cpus},
                                   {"memory", options_.memory_mib},
                                   {"disk", options_.disk_gib},
                                   {"shares", shares},
                                   {"mountType", options_.mount_type},
                                   {"dns", options_.dns},
                                   {"docker", options_.docker},
                                   {"env", options_.env}};
  return net::Digest::sha256Hex(settings.dump());
}

std::optional<QemuBootRecord> QemuDriver::takeOrphan(net::ChildProcess qemu) {
  auto record = QemuBootRecord::load(path("boot.json"));
  if (record) {
    ports_ = {record->ssh_port, record->engine_port};
    accel_ = record->accel;
    state_key_ = record->state_key;
    virtiofsd_ = record->virtiofsd;
  }
  std::lock_guard lock(mutex_);
  qemu_ = std::make_shared<net::ChildProcess>(std::move(qemu));
  return record;
}

std::string QemuDriver::runState() {
  std::lock_guard lock(qmp_mutex_);
  QmpClient qmp(5s);
  qmp.connect(path("qmp.sock"));
  return qmp.execute("query-status").value("status", "unknown");
}

bool QemuDriver::adoptOrphan(const ProgressSink& say) {
  auto orphan = QemuOrphan::find(options_.state_dir, qemuBinary());
  if (!orphan) return false;
  const int pid = orphan->pid();
  const std::string which =
      "the guest left running by an earlier daemon (qemu pid " + std::to_string(pid) + ")";
  {
    std::lock_guard lock(mutex_);
    state_ = GuestState::Starting;
    detail_ = "adopting " + which;
  }
  say("qemu: adopting " + which);
  const auto t0 = Clock::now();
  const auto record = takeOrphan(std::move(*orphan));
  std::string problem;
  try {
    problem = adopt(record, say);
  } catch (const std::exception& e) {
    problem = e.what();
  }
  if (problem.empty()) {
    say("qemu: adopted " + which + " in " + fixed1(secondsSince(t0)) +
        ": no boot, its containers kept running");
    std::lock_guard lock(mutex_);
    state_ = GuestState::Running;
    detail_ =
        "adopted (qemu pid " + std::to_string(pid) + ") with " + accel_ + "; " + endpointText();
    return true;
  }
  say("qemu: cannot adopt " + which + ": " + problem + "; stopping it, then booting");
  quitQemu();
  stopVirtiofsd();
  cleanupRuntimeFiles();
  say("qemu: the earlier guest stopped after " + fixed1(secondsSince(t0)));
  return false;
}

// Every check that lets the daemon serve an adopted guest as one it booted: QEMU runs the guest
// (not paused mid-save), was made from the settings in force, its engine answers over mutual
// TLS, its shares are mounted, and no port the dead daemon opened is left forwarded.
std::string QemuDriver::adopt(const std::optional<QemuBootRecord>& record,
                              const ProgressSink& say) {
  std::string state;
  try {
    state = runState();
  } catch (const DriverError& e) {
    return std::string("its QMP does not answer (") + e.what() + ")";
  }
  if (state != "running") return "its VM is " + state + ", not running";
  if (!record) return "its boot record " + path("boot.json") + " is missing";
  if (record->settings != settingsKey())
    return "the profile's settings changed since it booted (they apply at a boot)";
  std::string error;
  // A guest killed mid-boot may still come up; one whose engine is gone is booted again.
  const auto keep_waiting = [this] { return qemuAlive(); };
  if (!waitAnswering(Clock::now() + 30s, keep_waiting, error))
    return "its engine does not answer (" + endpointText() + "; " + error + ")";
  // A daemon killed while it saved the state had unmounted them.
  auto remount = remountShares();
  if (remount.exit_code != 0) return "its shares could not be mounted: " + remount.output;
  syncNerdctl(say);  // the setting may have changed while no daemon ran
  const int removed = removeStaleForwards();
  say("qemu: engine answers, shares mounted; " + std::to_string(removed) +
      " host port forward(s) of the earlier daemon removed (the engine's published ports open "
      "again)");
  return "";
}

int QemuDriver::removeStaleForwards() {
  int removed = 0;
  for (const auto& forward : QemuOrphan::hostForwards(hmp("info usernet", 10s))) {
    if (forward.protocol == "tcp" && (forward.host_port == ports_.ssh ||
                                      (ports_.engine != 0 && forward.host_port == ports_.engine)))
      continue;
    const std::string out = hmp(QemuOrphan::removeCommand("net0", forward), 10s);
    if (out.find("removed") == std::string::npos)
      throw DriverError("could not remove the host forward of port " +
                        std::to_string(forward.host_port) + ": " + out);
    ++removed;
  }
  return removed;
}

void QemuDriver::quitQemu() {
  bool quit = false;
  try {
    std::lock_guard lock(qmp_mutex_);
    QmpClient qmp(5s);
    qmp.connect(path("qmp.sock"));
    qmp.execute("quit");
    quit = true;
  } catch (const DriverError& e) {
    BERTH_LOG(Warn, "qemu", "QMP quit failed (" << e.what() << "): terminating QEMU");
  }
  if (!quit || !waitExit(10s)) killQemu();  // TERM (QEMU exits cleanly on it), then KILL
}

// One virtiofsd per share, serving it on a vhost-user socket in the state dir. They end by
// themselves when QEMU disconnects; stopVirtiofsd() makes sure and reaps them.
std::vector<std::string> QemuDriver::startVirtiofsd() {
  stopVirtiofsd();
  std::vector<std::string> sockets;
  for (std::size_t i = 0; i < options_.shares.size(); ++i) {
    const std::string socket = path("vfs" + std::to_string(i) + ".sock");
    std::error_code ec;
    fs::remove(socket, ec);
    std::vector<std::string> argv = {virtiofsd_, "--socket-path=" + socket,
                                     "-o",       "source=" + options_.shares[i].location,
                                     "-o",       "cache=auto"};
    // (This virtiofsd has no read-only mode: a read-only share is mounted ro in the guest.)
    net::SpawnOptions spawn;
    spawn.argv = argv;
    spawn.output = path("virtiofsd.log");
    spawn.new_session = true;
    virtiofsd_processes_.push_back(net::ChildProcess::spawn(spawn));
    sockets.push_back(socket);
  }
  const auto deadline = Clock::now() + 10s;
  for (const auto& socket : sockets) {
    while (!fs::exists(socket)) {
      if (Clock::now() > deadline)
        throw DriverError("virtiofsd did not start; see " + path("virtiofsd.log"));
      std::this_thread::sleep_for(50ms);
    }
  }
  return sockets;
}

void QemuDriver::stopVirtiofsd() {
  for (auto& virtiofsd : virtiofsd_processes_) virtiofsd.stop(5s);
  virtiofsd_processes_.clear();
}

void QemuDriver::cleanupRuntimeFiles() {
  std::error_code ec;
  fs::remove(path("qmp.sock"), ec);
  fs::remove(path("qemu.pid"), ec);
  fs::remove(path("boot.json"), ec);
}

std::string QemuDriver::lastLines(const std::string& file, int lines) const {
  std::string text = net::Files::readOr(file);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  size_t at = text.size();
  for (int i = 0; i < lines && at != std::string::npos && at > 0; ++i)
    at = text.rfind('\n', at - 1);
  std::string tail = at == std::string::npos ? text : text.substr(at + 1);
  for (auto& c : tail)
    if (c == '\n') c = ' ';
  return tail;
}

// ---- ssh and forwards --------------------------------------------------------------------

namespace {

std::uint16_t recordedSshPort(const std::string& state_dir) {
  auto saved = nlohmann::json::parse(net::Files::readOr(state_dir + "/ports.json"), nullptr, false);
  std::uint16_t port = saved.is_object() ? saved.value("ssh", std::uint16_t{0}) : 0;
  if (port == 0) throw DriverError("the guest has not been started yet: berth start first");
  return port;
}

std::vector<std::string> sshArgvWith(const std::string& state_dir, const std::string& profile,
                                     std::uint16_t port, const std::vector<std::string>& command,
                                     bool tty) {
  std::vector<std::string> argv = {"ssh",
                                   "-i",
                                   state_dir + "/ssh/id_ed25519",
                                   "-p",
                                   std::to_string(port),
                                   "-o",
                                   "IdentitiesOnly=yes",
                                   "-o",
                                   "BatchMode=yes",
                                   "-o",
                                   "StrictHostKeyChecking=yes",
                                   "-o",
                                   "UserKnownHostsFile=" + state_dir + "/ssh/known_hosts",
                                   "-o",
                                   "HostKeyAlias=berth-" + profile,
                                   "-o",
                                   "ConnectTimeout=10",
                                   "-o",
                                   "LogLevel=ERROR",
                                   tty ? "-t" : "-T",
                                   "root@127.0.0.1"};
  if (!command.empty()) argv.push_back("--");
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

}  // namespace

std::vector<std::string> QemuDriver::sshArgv(const std::vector<std::string>& command,
                                             bool tty) const {
  return sshArgvWith(options_.state_dir, options_.profile, ports_.ssh, command, tty);
}

std::vector<std::string> QemuDriver::shellArgv(const std::vector<std::string>& command,
                                               bool tty) const {
  return sshArgvWith(options_.state_dir, options_.profile, recordedSshPort(options_.state_dir),
                     command, tty);
}

std::vector<std::string> QemuDriver::execArgv(const std::vector<std::string>& words,
                                              bool tty) const {
  return shellArgv(shellWords(words), tty);
}

std::string QemuDriver::sshConfig() const {
  const std::string& state_dir = options_.state_dir;
  const std::string& profile = options_.profile;
  std::ostringstream out;
  out << "Host berth-" << profile << "\n"
      << "  HostName 127.0.0.1\n"
      << "  Port " << recordedSshPort(state_dir) << "\n"
      << "  User root\n"
      << "  IdentityFile " << state_dir << "/ssh/id_ed25519\n"
      << "  IdentitiesOnly yes\n"
      << "  UserKnownHostsFile " << state_dir << "/ssh/known_hosts\n"
      << "  HostKeyAlias berth-" << profile << "\n"
      << "  StrictHostKeyChecking yes\n"
      << "  LogLevel ERROR\n";
  return out.str();
}

std::vector<std::uint16_t> QemuDriver::guestServicePorts() const {
  if (!runtime_->servesDockerApi()) return {22};  // 2376 is free for a user's listener
  return {22, QemuCommandLine::kGuestEnginePort};
}

std::string QemuDriver::openForward(const std::string& protocol, const std::string& host_ip,
                                    std::uint16_t host_port, std::uint16_t guest_port) {
  if (protocol != "tcp" && protocol != "udp") return "unsupported protocol " + protocol;
  if (!qemuAlive()) return "the guest is not running";
  if (host_ip.find(':') != std::string::npos)
    return "QEMU's user network forwards IPv4 host addresses only (use 127.0.0.1)";
  const std::string& addr = host_ip;
  try {
    std::string out = hmp("hostfwd_add net0 " + protocol + ":" + addr + ":" +
                              std::to_string(host_port) + "-:" + std::to_string(guest_port),
                          10s);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  } catch (const DriverError& e) {
    return e.what();
  }
}

std::string QemuDriver::closeForward(const std::string& protocol, const std::string& host_ip,
                                     std::uint16_t host_port) {
  if (!qemuAlive()) return "";  // nothing to close: the VM and its forwards are gone
  const std::string& addr = host_ip;
  try {
    std::string out =
        hmp("hostfwd_remove net0 " + protocol + ":" + addr + ":" + std::to_string(host_port), 10s);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    // hostfwd_remove reports success as "host forwarding rule for ... removed".
    return out.find("removed") != std::string::npos ? "" : out;
  } catch (const DriverError& e) {
    return e.what();
  }
}

std::string QemuDriver::loopbackRefusal(const std::string& guest_loopback) const {
  auto why = GuestLoopbackDnat::redirectable(guest_loopback);
  if (why.empty()) return "";
  if (guest_loopback.find(':') == std::string::npos) return why;
  return "listening on the guest's " + guest_loopback +
         " only: QEMU's user network reaches the guest over IPv4 (" +
         QemuCommandLine::kGuestAddress +
         "), which cannot be redirected to IPv6; listen on 127.0.0.1 or a wildcard address too";
}

std::string QemuDriver::redirectToLoopback(std::uint16_t guest_port, const std::string& to) {
  auto why = loopbackRefusal(to);
  if (!why.empty()) return why;
  std::lock_guard lock(loopback_mutex_);
  loopback_dnat_.add(guest_port, to);
  why = applyLoopbackRedirects();
  if (!why.empty()) loopback_dnat_.remove(guest_port, to);
  return why;
}

std::string QemuDriver::unredirectFromLoopback(std::uint16_t guest_port, const std::string& to) {
  std::lock_guard lock(loopback_mutex_);
  loopback_dnat_.remove(guest_port, to);
  // A guest that stops takes its table along (or saves it: the boot that resumes it forgets it):
  // no ssh into a guest being saved or shut down.
  if (qemuAlive() && status().state == GuestState::Running) return applyLoopbackRedirects();
  loopback_dnat_.forget();
  return "";
}

std::string QemuDriver::applyLoopbackRedirects() {
  auto change = loopback_dnat_.pending();
  if (!change) return "";
  net::RunResult result;
  try {
    // One ssh per change of the table (a new or gone loopback listener): rare, and no process
    // stays in the guest or on the host.
    result = net::ChildProcess::run(shellArgv({change->script}, false), 30s);
  } catch (const DriverError& e) {
    loopback_dnat_.forget();
    return std::string("cannot reach the guest to redirect to its loopback: ") + e.what();
  }
  if (result.exit_code == 0) {
    loopback_dnat_.applied(std::move(change->table));
    return "";
  }
  loopback_dnat_.forget();  // it may have stopped half-way
  std::string why = result.timed_out ? "timed out after 30 s" : result.output;
  if (why.size() > 300) why.resize(300);
  return "redirecting to the guest's loopback (nat chain " +
         std::string(GuestLoopbackDnat::kChain) + ") failed: " + why;
}

}  // namespace berth::vm
