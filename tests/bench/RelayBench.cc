// berth_bench_relay: measures the relay against its alternatives, side by side, in one run.
// For each target socket (berth, the engine directly, a socat relay, ...): requests/s and
// p50/p99 latency of GET /_ping and GET /containers/json at concurrency 1 and 32 (one
// keep-alive connection per worker and target), and MiB/s of a PUT and a GET .../archive.
// The request rows load one target at a time for a slice (--slice, 100 ms), the targets taking
// turns, each cycle in another order (cycle k starts at target k), until each had --seconds;
// a target's rate is its requests over its slices' time, and a ratio column is the ratio of two
// such rates (not a median of per-cycle ratios: at c=1 a 100 ms slice holds ~40 requests of
// /containers/json, and a per-slice ratio carries that count's +-1). Why slices: the machine's
// speed drifts by 20% within seconds (17k to 24k req/s for one relay within a minute on this 2-core
// VM, other VMs on the host); two targets measured 100 ms apart see the same machine, two measured
// seconds apart do not (berth against a second berth differed by up to 19% with 2 s rounds; with
// slices it read 0.955-1.076 on the request rows over six full runs, session 28). The archive rows
// move one archive per target and round (--rounds of
// --archive-mib, rounds in rotated order): many small archives, so that targets are again measured
// close in time; a rate is all bytes over all the copies' time. Every reply is checked, not only
// its status: `/_ping` must answer "OK", `/containers/json` a JSON array of --containers entries,
// the archive GET the exact bytes the PUT sent. Plain blocking sockets and threads: the client must
// not be what is measured.
//
//   berth_bench_relay --target direct=/p/docker.sock --target berth=/p/berth.sock
//                     [--target socat=/p/socat.sock] --container C [--seconds 5]
//                     [--slice 0.1] [--rounds 15] [--archive-mib 64] [--peak-mib 0]
//                     [--subject berth] [--containers N] [--relay-pid berth=PID ...]
//                     [--memory berth ...] [--memory-settle 10] [--only TEXT] [--warmup 0.2]
//                     [--precision 0.02 --max-seconds 40 --max-rounds 150] [--slices-out F]
// Prints one table; the ratio columns are SUBJECT/other (> 1: the subject is faster). With
// --relay-pid, the CPU time that process (and its reaped children: socat forks one per
// connection) used is shown per request (or per GiB): speed bought with CPU shows up there.
// Without --containers, the count the first target reports is what every target must match.
// --memory NAME (a target with --relay-pid) adds that relay's memory rows after the speed rows:
// VmRSS idle, per connection with 1000 open, and above idle --memory-settle seconds after they
// closed (measureMemory). `berth_bench_relay --idle-memory SOCKET PID` prints them alone.
// --warmup S: before the measured slices of a request row, S seconds of slices per target, not
// counted. --peak-mib N: before the archive rows, one PUT and GET of N MiB through the subject,
// not timed, so that its peak RSS (VmHWM, read by run-relay-bench.sh) covers a copy that big.
// Under each ratio, "+-" is its 95% interval within the run (RatioInterval.h): on this VM 3-9%
// at 5 s per target, so a 3% difference needs --precision P: past --seconds (--rounds), a row
// goes on until every ratio of the subject to another target is known to within +-P, or
// --max-seconds per target (--max-rounds). --slices-out FILE writes every measured slice and
// round (row, unit, target, amount, seconds) as CSV.
// --only TEXT runs only the rows whose label contains TEXT (e.g. "_ping c=32"), for profiling
// one row under strace or perf; the archive rows need "archive".
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/bench/RatioInterval.h"

namespace {

using berth::bench::ratioHalfWidth;
using berth::bench::Samples;

using Clock = std::chrono::steady_clock;

struct Target {
  std::string name;
  std::string socket;
  int relay_pid = 0;  // the relay process behind `socket`, whose CPU time is reported (0: none)
};

// User + system CPU seconds a process and its reaped children have used so far (0 if unknown).
double cpuSeconds(int pid) {
  if (pid <= 0) return 0;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char buf[1024];
  std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  if (!p) return 0;
  // After ") ": state, then fields 4..; utime, stime, cutime, cstime are fields 14-17 (proc(5)).
  std::istringstream fields(p + 2);
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 17 && fields >> field; ++i) {
    long value = 0;
    if (i < 14) continue;
    if (std::from_chars(field.data(), field.data() + field.size(), value).ec != std::errc())
      return 0;
    ticks += value;
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// cpuSeconds after the connections just closed have been let go: a forking relay's (socat's)
// children exit and are reaped only then, and their CPU time joins the parent's at that point.
double settledCpuSeconds(int pid) {
  if (pid <= 0) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return cpuSeconds(pid);
}

int connectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    throw std::runtime_error("connect " + path + ": " + strerror(errno));
  }
  return fd;
}

void sendAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("send: " + std::string(strerror(errno)));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Receives a reply's body bytes as they arrive (the body is never held whole unless it keeps it).
using BodySink = std::function<void(const char*, std::size_t)>;

// One keep-alive HTTP/1.1 client connection; reads Content-Length and chunked replies.
class Client {
 public:
  explicit Client(const std::string& path) : fd_(connectUnix(path)), buf_(std::size_t{256} << 10) {}
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(const std::string& s) { sendAll(fd_, s.data(), s.size()); }
  void send(const char* data, std::size_t size) { sendAll(fd_, data, size); }

  // Reads one reply; returns its status, counts body bytes in `body_bytes` and hands them to
  // `sink` when one is given.
  int readReply(std::uint64_t& body_bytes, const BodySink& sink = nullptr) {
    body_bytes = 0;
    std::string head;
    std::size_t end;
    while ((end = pending().find("\r\n\r\n")) == std::string_view::npos) fill();
    head.assign(pending().substr(0, end + 2));
    consume(end + 4);
    int status = 0;  // "HTTP/1.1 200 ...": a head without one reads as 0, which no caller expects
    if (head.size() >= 12) std::from_chars(head.data() + 9, head.data() + 12, status);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos) {
      std::uint64_t left = std::strtoull(lower.c_str() + p + 17, nullptr, 10);
      skip(left, sink);
      body_bytes = left;
    } else if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
      for (;;) {
        std::size_t eol;
        while ((eol = pending().find("\r\n")) == std::string_view::npos) fill();
        std::uint64_t size =
            std::strtoull(std::string(pending().substr(0, eol)).c_str(), nullptr, 16);
        consume(eol + 2);
        skip(size, sink);
        skip(2, nullptr);  // the data's CRLF (or the final empty line)
        body_bytes += size;
        if (size == 0) break;
      }
    }
    return status;
  }

 private:
  std::string_view pending() const { return {buf_.data() + begin_, end_ - begin_}; }
  void consume(std::size_t n) { begin_ += n; }
  void fill() {
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ == buf_.size()) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    ssize_t n = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, 0);
    if (n == 0) throw std::runtime_error("connection closed by the server");
    if (n < 0) {
      if (errno == EINTR) return;
      throw std::runtime_error("recv: " + std::string(strerror(errno)));
    }
    end_ += static_cast<std::size_t>(n);
  }
  void skip(std::uint64_t n, const BodySink& sink) {
    while (n > 0) {
      if (begin_ == end_) fill();
      std::size_t take = std::min<std::uint64_t>(n, end_ - begin_);
      if (sink) sink(buf_.data() + begin_, take);
      begin_ += take;
      n -= take;
    }
  }

  int fd_;
  std::vector<char> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// What a correct reply body of a request row holds. `check` throws saying what was wrong. A full
// JSON parse of a 16 KB list costs more than the relay's share of the request, so the first
// reply on each connection is parsed whole and the rest get a cheap structural check
// (brackets and one top-level "Id" key per container).
class ReplyCheck {
 public:
  ReplyCheck(const std::string& path, std::size_t containers)
      : ping_(path == "/_ping"), containers_(containers) {}

  void check(const std::string& body, bool parse_whole) const {
    if (ping_) {
      if (body != "OK") throw std::runtime_error("_ping body \"" + body.substr(0, 40) + "\"");
      return;
    }
    if (parse_whole) {
      auto j = nlohmann::json::parse(body, nullptr, false);
      if (j.is_discarded() || !j.is_array() || j.size() != containers_)
        throw std::runtime_error("containers/json: not a JSON array of " +
                                 std::to_string(containers_) + ": " + body.substr(0, 80));
      return;
    }
    std::size_t last = body.find_last_not_of(" \r\n");
    std::size_t ids = 0;
    for (std::size_t p = body.find("\"Id\":"); p != std::string::npos;
         p = body.find("\"Id\":", p + 5))
      ++ids;
    if (body.empty() || body.front() != '[' || last == std::string::npos || body[last] != ']' ||
        ids != containers_)
      throw std::runtime_error("containers/json: " + std::to_string(ids) + " entries of " +
                               std::to_string(containers_) + " in " + std::to_string(body.size()) +
                               " bytes");
  }

 private:
  bool ping_;
  std::size_t containers_;
};

// How many containers the target's GET /containers/json lists (parsed whole).
std::size_t countContainers(const std::string& socket) {
  Client c(socket);
  c.send("GET /v1.41/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n");
  std::string body;
  std::uint64_t bytes;
  int status = c.readReply(bytes, [&](const char* d, std::size_t n) { body.append(d, n); });
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (status != 200 || !j.is_array())
    throw std::runtime_error("containers/json on " + socket + ": status " + std::to_string(status));
  return j.size();
}

// The request rows: `concurrency` workers, each holding one keep-alive connection to every
// target, load one target at a time for a slice of a fraction of a second, the targets taking
// turns (each cycle in another order) until each had its share. The machine's speed drifts by
// 20% within seconds here (other VMs on the host); a target measured 100 ms apart from another
// sees the same machine, one measured seconds apart does not. Connections stay open across
// slices, so a slice measures exchanges, not connecting.
class SlicedLoad {
 public:
  struct Slice {
    double requests = 0;
    double seconds = 0;  // from the slice's start until its last worker's reply
  };

  SlicedLoad(const std::vector<Target>& targets, const std::string& path, int concurrency,
             const ReplyCheck& reply_check)
      : targets_(targets),
        path_(path),
        request_("GET " + path + " HTTP/1.1\r\nHost: docker\r\nUser-Agent: berth-bench\r\n\r\n"),
        reply_check_(reply_check),
        latencies_(targets.size()),
        per_worker_(static_cast<std::size_t>(concurrency)) {
    for (auto& worker : per_worker_) {
      for (const auto& t : targets) worker.clients.push_back(std::make_unique<Client>(t.socket));
      worker.checked.assign(targets.size(), false);
      worker.latencies.reserve(100000);
    }
    for (auto& worker : per_worker_) threads_.emplace_back([this, &worker] { work(worker); });
  }
  ~SlicedLoad() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
    }
    wake_.notify_all();
    for (auto& th : threads_) th.join();
  }
  SlicedLoad(const SlicedLoad&) = delete;
  SlicedLoad& operator=(const SlicedLoad&) = delete;

  // Loads target `t` for `seconds`: every worker sends requests until then and waits for its
  // last reply. `keep` adds the slice's latencies to the target's.
  Slice run(std::size_t t, double seconds, bool keep) {
    std::unique_lock<std::mutex> lock(mutex_);
    target_ = t;
    running_ = per_worker_.size();
    const auto start = Clock::now();
    until_ =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    ++generation_;
    wake_.notify_all();
    done_.wait(lock, [&] { return running_ == 0; });
    const auto end = Clock::now();
    if (!error_.empty()) throw std::runtime_error(targets_[t].name + " " + path_ + ": " + error_);
    Slice slice;
    slice.seconds = std::chrono::duration<double>(end - start).count();
    for (auto& worker : per_worker_) {
      slice.requests += static_cast<double>(worker.latencies.size());
      if (keep)
        latencies_[t].insert(latencies_[t].end(), worker.latencies.begin(), worker.latencies.end());
      worker.latencies.clear();
    }
    return slice;
  }
  // The latencies of target t's kept slices, in microseconds.
  std::vector<double>& latencies(std::size_t t) { return latencies_[t]; }

 private:
  struct Worker {
    std::vector<std::unique_ptr<Client>> clients;  // one per target
    std::vector<bool> checked;                     // its first reply was parsed whole
    std::vector<double> latencies;                 // this slice's, us
  };

  void work(Worker& worker) {
    std::uint64_t seen = 0;
    std::string body;
    body.reserve(std::size_t{64} << 10);
    const BodySink keep = [&body](const char* d, std::size_t n) { body.append(d, n); };
    for (;;) {
      std::size_t t;
      Clock::time_point until;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
        t = target_;
        until = until_;
      }
      try {
        Client& c = *worker.clients[t];
        std::uint64_t bytes;
        for (;;) {
          const auto t0 = Clock::now();
          if (t0 >= until) break;
          c.send(request_);
          body.clear();
          const int status = c.readReply(bytes, keep);
          if (status != 200) throw std::runtime_error("status " + std::to_string(status));
          worker.latencies.push_back(
              std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
          reply_check_.check(body, !worker.checked[t]);
          worker.checked[t] = true;
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (error_.empty()) error_ = e.what();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      if (--running_ == 0) done_.notify_one();
    }
  }

  const std::vector<Target>& targets_;
  const std::string path_;
  const std::string request_;
  const ReplyCheck& reply_check_;
  std::vector<std::vector<double>> latencies_;  // per target
  std::vector<Worker> per_worker_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;  // a slice starts, or quit_
  std::condition_variable done_;  // running_ reached 0
  std::uint64_t generation_ = 0;  // counts slices started
  std::size_t target_ = 0;
  Clock::time_point until_;
  std::size_t running_ = 0;
  bool quit_ = false;
  std::string error_;  // the first worker's failure
};

// A one-file ustar archive header for `size` bytes.
std::string tarHeader(const std::string& name, std::uint64_t size) {
  std::string h(512, '\0');
  std::snprintf(&h[0], 100, "%s", name.c_str());
  std::snprintf(&h[100], 8, "%07o", 0644);
  std::snprintf(&h[108], 8, "%07o", 0);
  std::snprintf(&h[116], 8, "%07o", 0);
  std::snprintf(&h[124], 12, "%011llo", static_cast<unsigned long long>(size));
  std::snprintf(&h[136], 12, "%011o", 0);
  h[156] = '0';
  std::memcpy(&h[257],
              "ustar\0"
              "00",
              8);
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(&h[148], 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

// Checks, as its bytes arrive, that a GET .../archive reply is the one-file tar the PUT sent:
// a header naming bench.bin with its size, then the file's bytes (the PUT's 1 MiB block over
// and over), compared with memcmp so that the check costs far less than the relay's copy.
class ArchiveCheck {
 public:
  ArchiveCheck(const std::vector<char>& block, std::uint64_t size) : block_(block), size_(size) {}

  void feed(const char* data, std::size_t n) {
    while (n > 0) {
      if (header_.size() < 512) {
        std::size_t take = std::min<std::size_t>(n, 512 - header_.size());
        header_.append(data, take);
        data += take;
        n -= take;
        if (header_.size() == 512) checkHeader();
        continue;
      }
      if (offset_ >= size_) return;  // tar padding and end blocks
      std::size_t at = static_cast<std::size_t>(offset_ % block_.size());
      std::size_t take = static_cast<std::size_t>(
          std::min<std::uint64_t>({n, block_.size() - at, size_ - offset_}));
      if (std::memcmp(data, block_.data() + at, take) != 0)
        throw std::runtime_error("archive bytes differ near offset " + std::to_string(offset_));
      offset_ += take;
      data += take;
      n -= take;
    }
  }
  // Throws unless the whole file arrived.
  void finish() const {
    if (offset_ != size_)
      throw std::runtime_error("archive: " + std::to_string(offset_) + " of " +
                               std::to_string(size_) + " file bytes");
  }

 private:
  void checkHeader() const {
    unsigned long long size = std::strtoull(header_.substr(124, 12).c_str(), nullptr, 8);
    if (header_.compare(0, 9, "bench.bin") != 0 || header_[9] != '\0' || size != size_)
      throw std::runtime_error("archive: unexpected tar header \"" + header_.substr(0, 40) + "\"");
  }

  const std::vector<char>& block_;
  std::uint64_t size_;
  std::string header_;
  std::uint64_t offset_ = 0;
};

double benchPutArchive(const Target& t, const std::string& container, std::uint64_t size,
                       const std::vector<char>& block) {
  std::string head = tarHeader("bench.bin", size);
  std::uint64_t pad = (512 - size % 512) % 512;
  std::uint64_t total = head.size() + size + pad + 1024;
  Client c(t.socket);
  auto t0 = Clock::now();
  c.send("PUT /v1.41/containers/" + container +
         "/archive?path=/tmp HTTP/1.1\r\nHost: docker\r\n"
         "Content-Type: application/x-tar\r\nContent-Length: " +
         std::to_string(total) + "\r\n\r\n");
  c.send(head);
  for (std::uint64_t left = size; left > 0;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size()));
    c.send(block.data(), n);
    left -= n;
  }
  std::string tail(pad + 1024, '\0');
  c.send(tail);
  std::uint64_t bytes;
  int status = c.readReply(bytes);
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (status != 200 || bytes != 0) {
    throw std::runtime_error(t.name + " PUT archive: status " + std::to_string(status) + ", " +
                             std::to_string(bytes) + " body bytes");
  }
  return s;
}

double benchGetArchive(const Target& t, const std::string& container, std::uint64_t size,
                       const std::vector<char>& block) {
  Client c(t.socket);
  ArchiveCheck archive(block, size);
  auto t0 = Clock::now();
  c.send("GET /v1.41/containers/" + container +
         "/archive?path=/tmp/bench.bin HTTP/1.1\r\n"
         "Host: docker\r\n\r\n");
  std::uint64_t bytes;
  int status;
  try {
    status = c.readReply(bytes, [&](const char* d, std::size_t n) { archive.feed(d, n); });
    archive.finish();
  } catch (const std::exception& e) {
    throw std::runtime_error(t.name + " GET archive: " + e.what());
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (status != 200 || bytes < size) {
    throw std::runtime_error(t.name + " GET archive: status " + std::to_string(status) + ", " +
                             std::to_string(bytes) + " bytes");
  }
  return s;
}

// The order targets run in during round `r`: all of them, starting at target r mod n.
std::vector<std::size_t> roundOrder(std::size_t n, int r) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = (static_cast<std::size_t>(r) + i) % n;
  return order;
}

// VmRSS of a process in KiB (throws if it cannot be read).
long vmRssKib(int pid) {
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (!f) throw std::runtime_error("cannot read /proc/" + std::to_string(pid) + "/status");
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof(line), f)) {
    const std::string_view text(line);
    if (text.rfind("VmRSS:", 0) != 0) continue;
    const auto digits = text.find_first_of("0123456789");
    if (digits != std::string_view::npos)
      std::from_chars(text.data() + digits, text.data() + text.size(), kib);
    break;
  }
  std::fclose(f);
  return kib;
}

std::size_t openFds(int pid) {
  std::size_t n = 0;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

// What idle client connections cost a relay (issue 19), from its VmRSS: before, with 500 and
// 1000 connections that sent nothing (read once the relay's fd count shows them accepted),
// with the same 1000 two seconds after one GET /_ping each (kept alive, as docker clients
// keep theirs),
// and `settle` seconds after they all closed. Targets: <= 16 KiB per idle connection, and
// back within 2 MiB of the idle figure after the burst.
struct MemoryFigures {
  long idle = 0, at500 = 0, at1000 = 0, after_ping = 0, after_close = 0;  // KiB
};

MemoryFigures measureMemory(const std::string& socket, int pid, int settle) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  MemoryFigures m;
  const std::size_t base_fds = openFds(pid);
  m.idle = vmRssKib(pid);
  std::vector<int> fds;
  auto open_up_to = [&](std::size_t n) {
    while (fds.size() < n) fds.push_back(connectUnix(socket));
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (openFds(pid) < base_fds + n) {
      if (Clock::now() > deadline) throw std::runtime_error("the relay did not accept them all");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return vmRssKib(pid);
  };
  m.at500 = open_up_to(500);
  m.at1000 = open_up_to(1000);
  // All requests first, then the replies: the relay sees 1000 exchanges at once, as in a burst.
  static const std::string kPing = "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
  for (int fd : fds) sendAll(fd, kPing.data(), kPing.size());
  for (int fd : fds) {
    std::string reply;
    char buf[1024];
    while (reply.size() < 4 || reply.compare(reply.size() - 4, 4, "\r\nOK") != 0 ||
           reply.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) throw std::runtime_error("_ping on an open connection: no reply");
      reply.append(buf, static_cast<std::size_t>(n));
    }
    if (reply.compare(0, 12, "HTTP/1.1 200") != 0)
      throw std::runtime_error("_ping on an open connection: " + reply.substr(0, 40));
  }
  // Idle again: 2 s, as berth's HeapTrimmer gives a burst's freed buffers back after 1 s.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  m.after_ping = vmRssKib(pid);
  for (int fd : fds) ::close(fd);
  std::this_thread::sleep_for(std::chrono::seconds(settle));
  m.after_close = vmRssKib(pid);
  return m;
}

struct Row {
  std::string label;
  std::string unit;
  std::vector<double> value;  // per target: req/s or MiB/s over all its measured slices or rounds
  std::vector<Samples> samples;  // per target: its slices or rounds, for ratioHalfWidth
  std::vector<double> p50, p99;
  std::vector<double> cpu;  // per target: relay CPU us per request or s per GiB, all rounds
};

int run(int argc, char** argv) {
  std::vector<Target> targets;
  std::string container;
  double seconds = 5;
  double slice_seconds = 0.1;
  double precision = 0;  // 0: each request row runs --seconds per target, no more
  double max_seconds = 0;
  std::string slices_out;  // --slices-out FILE: every measured slice and round, as CSV
  double warmup = 0.2;
  int rounds = 15;
  int max_rounds = 0;
  std::uint64_t archive_mib = 64;
  std::uint64_t peak_mib = 0;
  std::string subject = "berth";
  std::vector<std::string> relay_pids;
  std::vector<std::string> memory_targets;  // --memory NAME: measure that relay's memory
  int memory_settle = 10;
  std::size_t containers = 0;  // 0: what the first target lists
  std::string only;            // run only the rows whose label contains this
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--target") {
      std::string v = next();
      auto eq = v.find('=');
      if (eq == std::string::npos) throw std::runtime_error("--target NAME=SOCKET");
      targets.push_back({v.substr(0, eq), v.substr(eq + 1)});
    } else if (a == "--container") {
      container = next();
    } else if (a == "--seconds") {
      seconds = std::stod(next());
    } else if (a == "--precision") {
      precision = std::stod(next());
    } else if (a == "--slices-out") {
      slices_out = next();
    } else if (a == "--max-rounds") {
      max_rounds = std::stoi(next());
    } else if (a == "--max-seconds") {
      max_seconds = std::stod(next());
    } else if (a == "--slice") {
      slice_seconds = std::stod(next());
    } else if (a == "--peak-mib") {
      peak_mib = std::stoull(next());
    } else if (a == "--warmup") {
      warmup = std::stod(next());
    } else if (a == "--rounds") {
      rounds = std::stoi(next());
    } else if (a == "--archive-mib") {
      archive_mib = std::stoull(next());
    } else if (a == "--subject") {
      subject = next();
    } else if (a == "--containers") {
      containers = std::stoull(next());
    } else if (a == "--relay-pid") {
      relay_pids.push_back(next());
    } else if (a == "--memory") {
      memory_targets.push_back(next());
    } else if (a == "--memory-settle") {
      memory_settle = std::stoi(next());
    } else if (a == "--only") {
      only = next();
    } else {
      throw std::runtime_error("unknown argument " + a + " (see the header of RelayBench.cc)");
    }
  }
  if (targets.empty()) throw std::runtime_error("give at least one --target NAME=SOCKET");
  if (rounds < 1) throw std::runtime_error("--rounds must be at least 1");
  if (slice_seconds <= 0 || seconds < slice_seconds)
    throw std::runtime_error("--slice must be above 0 and at most --seconds");
  const int cycles = static_cast<int>(std::lround(seconds / slice_seconds));
  if (precision < 0) throw std::runtime_error("--precision must be 0 (off) or more");
  if (precision > 0 && max_seconds < seconds)
    throw std::runtime_error("--precision needs --max-seconds of at least --seconds");
  const int max_cycles =
      precision > 0 ? static_cast<int>(std::lround(max_seconds / slice_seconds)) : cycles;
  if (precision > 0 && max_rounds < rounds)
    throw std::runtime_error("--precision needs --max-rounds of at least --rounds");
  if (precision == 0) max_rounds = rounds;
  const int warmup_cycles = static_cast<int>(std::ceil(warmup / slice_seconds));
  if (containers == 0) containers = countContainers(targets.front().socket);
  std::fprintf(stderr, "containers/json must list %zu containers on every target\n", containers);
  for (const auto& v : relay_pids) {
    auto eq = v.find('=');
    auto it = std::find_if(targets.begin(), targets.end(),
                           [&](const Target& t) { return t.name == v.substr(0, eq); });
    if (eq == std::string::npos || it == targets.end())
      throw std::runtime_error("--relay-pid NAME=PID, NAME one of the targets");
    it->relay_pid = std::stoi(v.substr(eq + 1));
  }
  bool any_pid =
      std::any_of(targets.begin(), targets.end(), [](const Target& t) { return t.relay_pid > 0; });
  std::vector<std::optional<MemoryFigures>> memory(targets.size());
  for (const auto& name : memory_targets) {
    auto it = std::find_if(targets.begin(), targets.end(),
                           [&](const Target& t) { return t.name == name; });
    if (it == targets.end() || it->relay_pid <= 0)
      throw std::runtime_error("--memory " + name + ": give it as --target and --relay-pid");
  }

  const auto subject_it = std::find_if(targets.begin(), targets.end(),
                                       [&](const Target& t) { return t.name == subject; });
  const int subject_index =
      subject_it == targets.end() ? -1 : static_cast<int>(subject_it - targets.begin());
  // With --precision, a row goes on past --seconds (--rounds) until every ratio of the subject
  // to another target is known to within it (ratioHalfWidth), or --max-seconds (--max-rounds).
  auto precise = [&](const Row& row) {
    if (subject_index < 0) return true;
    for (std::size_t t = 0; t < targets.size(); ++t)
      if (static_cast<int>(t) != subject_index &&
          ratioHalfWidth(row.samples[subject_index], row.samples[t]) > precision)
        return false;
    return true;
  };
  std::vector<Row> rows;
  for (const char* path : {"/_ping", "/v1.41/containers/json"}) {
    for (int conc : {1, 32}) {
      Row row{
          std::string("GET ") + path + " c=" + std::to_string(conc), "req/s", {}, {}, {}, {}, {}};
      if (row.label.find(only) == std::string::npos) continue;
      const ReplyCheck reply_check(path, containers);
      std::vector<double> cpu0(targets.size()), all_requests(targets.size());
      row.samples.resize(targets.size());
      for (std::size_t t = 0; t < targets.size(); ++t) cpu0[t] = cpuSeconds(targets[t].relay_pid);
      {
        SlicedLoad load(targets, path, conc, reply_check);
        for (int k = -warmup_cycles; k < max_cycles; ++k) {
          if (k >= cycles && precise(row)) break;
          for (std::size_t t : roundOrder(targets.size(), k + warmup_cycles)) {
            const auto slice = load.run(t, slice_seconds, k >= 0);
            all_requests[t] += slice.requests;
            if (k >= 0) row.samples[t].add(slice.requests, slice.seconds);
          }
        }
        for (std::size_t t = 0; t < targets.size(); ++t) {
          auto& all = load.latencies(t);
          std::sort(all.begin(), all.end());
          row.value.push_back(row.samples[t].rate());
          row.p50.push_back(all.empty() ? 0 : all[all.size() / 2]);
          row.p99.push_back(all.empty() ? 0 : all[std::min(all.size() - 1, all.size() * 99 / 100)]);
        }
      }  // the connections close here: socat's children exit, and their CPU time joins socat's
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      for (std::size_t t = 0; t < targets.size(); ++t) {
        const double used = cpuSeconds(targets[t].relay_pid) - cpu0[t];
        row.cpu.push_back(all_requests[t] > 0 ? used * 1e6 / all_requests[t] : 0);
      }
      rows.push_back(row);
      std::fprintf(stderr, "done: %s\n", row.label.c_str());
    }
  }
  if (!container.empty() && archive_mib > 0 &&
      std::string("archive").find(only) != std::string::npos) {
    std::vector<char> block(std::size_t{1} << 20);
    std::mt19937_64 rng(42);
    for (auto& c : block) c = static_cast<char>(rng());
    const std::uint64_t size = archive_mib * 1024 * 1024;
    Row put{"PUT archive " + std::to_string(archive_mib) + " MiB", "MiB/s", {}, {}, {}, {}, {}};
    Row get{"GET archive " + std::to_string(archive_mib) + " MiB", "MiB/s", {}, {}, {}, {}, {}};
    if (peak_mib > 0) {  // not timed: what the subject's peak RSS (VmHWM) holds after one big copy
      for (const auto& t : targets) {
        if (t.name != subject) continue;
        benchPutArchive(t, container, peak_mib * 1024 * 1024, block);
        benchGetArchive(t, container, peak_mib * 1024 * 1024, block);
        std::fprintf(stderr, "done: a %llu MiB PUT and GET through %s\n",
                     static_cast<unsigned long long>(peak_mib), subject.c_str());
      }
    }
    put.samples.resize(targets.size());
    get.samples.resize(targets.size());
    put.cpu.assign(targets.size(), 0);
    get.cpu.assign(targets.size(), 0);
    for (int r = 0; r < max_rounds; ++r) {
      if (r >= rounds && precise(put) && precise(get)) break;
      for (std::size_t t : roundOrder(targets.size(), r)) {
        double c0 = cpuSeconds(targets[t].relay_pid);
        put.samples[t].add(static_cast<double>(archive_mib),
                           benchPutArchive(targets[t], container, size, block));
        double c1 = settledCpuSeconds(targets[t].relay_pid);
        get.samples[t].add(static_cast<double>(archive_mib),
                           benchGetArchive(targets[t], container, size, block));
        put.cpu[t] += c1 - c0;  // CPU seconds here, per GiB below
        get.cpu[t] += settledCpuSeconds(targets[t].relay_pid) - c1;
      }
    }
    const double gib_per_round = static_cast<double>(size) / (1024.0 * 1024.0 * 1024.0);
    for (std::size_t t = 0; t < targets.size(); ++t) {
      put.value.push_back(put.samples[t].rate());
      get.value.push_back(get.samples[t].rate());
      const double gib = gib_per_round * static_cast<double>(put.samples[t].amount.size());
      put.cpu[t] /= gib;
      get.cpu[t] /= gib;
    }
    rows.push_back(put);
    rows.push_back(get);
  }

  // Last, so that the speed rows run on a relay that has not just seen 1000 connections.
  for (std::size_t t = 0; t < targets.size(); ++t) {
    if (std::find(memory_targets.begin(), memory_targets.end(), targets[t].name) !=
        memory_targets.end()) {
      memory[t] = measureMemory(targets[t].socket, targets[t].relay_pid, memory_settle);
      std::fprintf(stderr, "done: memory of %s\n", targets[t].name.c_str());
    }
  }

  const int s = subject_index;
  if (!slices_out.empty()) {
    FILE* out = std::fopen(slices_out.c_str(), "w");
    if (!out) throw std::runtime_error("cannot write " + slices_out);
    std::fprintf(out, "row,unit,target,amount,seconds\n");
    for (const auto& row : rows)
      for (std::size_t t = 0; t < targets.size(); ++t)
        for (std::size_t u = 0; u < row.samples[t].amount.size(); ++u)
          std::fprintf(out, "%s,%zu,%s,%.0f,%.6f\n", row.label.c_str(), u, targets[t].name.c_str(),
                       row.samples[t].amount[u], row.samples[t].seconds[u]);
    std::fclose(out);
  }
  std::printf("%-36s %-6s", "benchmark", "unit");
  for (auto& t : targets) std::printf(" %12s", t.name.c_str());
  for (auto& t : targets)
    if (s >= 0 && t.name != subject) std::printf(" %14s", (subject + "/" + t.name).c_str());
  std::printf("\n");
  for (auto& row : rows) {
    std::printf("%-36s %-6s", row.label.c_str(), row.unit.c_str());
    for (double v : row.value) std::printf(" %12.1f", v);
    for (std::size_t t = 0; t < targets.size(); ++t)
      if (s >= 0 && static_cast<int>(t) != s) std::printf(" %14.3f", row.value[s] / row.value[t]);
    std::printf("\n");
    if (s >= 0 && targets.size() > 1) {
      char label[64];
      std::snprintf(label, sizeof label, "  ratio +- (95%%, %zu %s)", row.samples[s].amount.size(),
                    row.p50.empty() ? "rounds" : "slices");
      std::printf("%-36s %-6s", label, "");
      for (std::size_t t = 0; t < targets.size(); ++t) std::printf(" %12s", "");
      for (std::size_t t = 0; t < targets.size(); ++t)
        if (static_cast<int>(t) != s)
          std::printf(" %14.3f", ratioHalfWidth(row.samples[s], row.samples[t]));
      std::printf("\n");
    }
    if (!row.p50.empty()) {
      std::printf("%-36s %-6s", "  latency p50 / p99", "us");
      for (std::size_t t = 0; t < targets.size(); ++t) {
        char cell[40];
        std::snprintf(cell, sizeof(cell), "%.0f/%.0f", row.p50[t], row.p99[t]);
        std::printf(" %12s", cell);
      }
      std::printf("\n");
    }
    if (any_pid) {
      std::printf("%-36s %-6s", row.p50.empty() ? "  relay CPU per GiB" : "  relay CPU per request",
                  row.p50.empty() ? "s" : "us");
      for (std::size_t t = 0; t < targets.size(); ++t) {
        if (targets[t].relay_pid > 0)
          std::printf(" %12.*f", row.p50.empty() ? 2 : 1, row.cpu[t]);
        else
          std::printf(" %12s", "-");
      }
      std::printf("\n");
    }
  }
  if (s >= 0 && targets.size() > 1) {
    std::printf(
        "(requests: each target slices of %.0f ms, taking turns with the others, each cycle in"
        " another order;\n archive: one archive per target and round, in rotated order; a rate"
        " is all its requests\n or bytes over all its time, a ratio that of two rates; +-: the"
        " ratio's 95%% interval\n by batch means (ratioHalfWidth), within this run)\n",
        slice_seconds * 1000);
    if (precision > 0)
      std::printf(
          "(--precision: past %.0f s per target (%d rounds), a row went on until every %s"
          " ratio's +- was\n at most %.3f, or %.0f s (%d rounds))\n",
          seconds, rounds, subject.c_str(), precision, max_seconds, max_rounds);
  }
  if (!memory_targets.empty()) {
    // The relay's VmRSS (KiB): lower is better, so no ratio columns.
    struct MemoryRow {
      const char* label;
      std::function<double(const MemoryFigures&)> value;
      int decimals;
    };
    const std::string after = "RSS above idle " + std::to_string(memory_settle) + " s after";
    const MemoryRow memory_rows[] = {
        {"RSS idle", [](const MemoryFigures& m) { return static_cast<double>(m.idle); }, 0},
        {"RSS per silent connection (1000)",
         [](const MemoryFigures& m) { return static_cast<double>(m.at1000 - m.idle) / 1000; }, 1},
        {"RSS per kept-alive conn after /_ping",
         [](const MemoryFigures& m) { return static_cast<double>(m.after_ping - m.idle) / 1000; },
         1},
        {after.c_str(),
         [](const MemoryFigures& m) { return static_cast<double>(m.after_close - m.idle); }, 0},
    };
    for (const auto& row : memory_rows) {
      std::printf("%-36s %-6s", row.label, "KiB");
      for (std::size_t t = 0; t < targets.size(); ++t) {
        if (memory[t])
          std::printf(" %12.*f", row.decimals, row.value(*memory[t]));
        else
          std::printf(" %12s", "-");
      }
      std::printf("\n");
    }
    std::printf(
        "(memory: the relay's VmRSS with 1000 client connections open at once; the last"
        " row is\n after they all closed)\n");
  }
  return 0;
}

}  // namespace

// --idle-memory SOCKET PID [--settle S]: the memory figures of one relay alone (S: 10).
int idleMemory(int argc, char** argv) {
  if (argc < 4) throw std::runtime_error("--idle-memory SOCKET PID [--settle SECONDS]");
  int settle = 10;
  if (argc >= 6 && std::string(argv[4]) == "--settle") settle = std::stoi(argv[5]);
  const int pid = std::stoi(argv[3]);
  const MemoryFigures m = measureMemory(argv[2], pid, settle);
  std::printf("relay memory: VmRSS of pid %d\n\n", pid);
  std::printf("| %-44s | %9s | %14s |\n", "state", "RSS KiB", "KiB/connection");
  std::printf("|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(11, '-').c_str(),
              std::string(16, '-').c_str());
  std::printf("| %-44s | %9ld | %14s |\n", "idle", m.idle, "");
  std::printf("| %-44s | %9ld | %14.1f |\n", "500 connections that sent nothing", m.at500,
              static_cast<double>(m.at500 - m.idle) / 500);
  std::printf("| %-44s | %9ld | %14.1f |\n", "1000 connections that sent nothing", m.at1000,
              static_cast<double>(m.at1000 - m.idle) / 1000);
  std::printf("| %-44s | %9ld | %14.1f |\n", "the 1000 after one GET /_ping each, kept open",
              m.after_ping, static_cast<double>(m.after_ping - m.idle) / 1000);
  std::printf("| %-44s | %9ld | %+13ld* |\n",
              (std::to_string(settle) + " s after the 1000 closed").c_str(), m.after_close,
              m.after_close - m.idle);
  std::printf("\n* KiB above the idle figure\n");
  return 0;
}

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "--idle-memory") return idleMemory(argc, argv);
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "berth_bench_relay: %s\n", e.what());
    return 1;
  }
}
