// UDP packet-rate probe for forwarding_bench.py (iperf3's server tops out near 45k packets/s
// here, below what a forward can carry, so it cannot tell the proxies apart).
//   udp_blast sink PORT                    counts datagrams (see the control messages below)
//   udp_blast blast HOST PORT SECS RATE    sends 64-byte datagrams at RATE packets/s (paced
//                                          with sendmmsg batches) for SECS, then asks the sink
//                                          (through the same path) how many arrived while the
//                                          clock ran; prints "sent delivered seconds cpu",
//                                          cpu being the sender's own CPU seconds meanwhile
// Control datagrams to the sink: "W START END" (CLOCK_MONOTONIC seconds; the host and the
// container share the kernel's clock) resets the count and counts only datagrams that arrive
// in [START, END]: what the path still drains from its queues after the clock stops is not
// counted (an unpaced flood would otherwise measure queue depth and veth drops, not the path's
// rate). "?" answers with the count so far, as text.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kBatch = 64, kSize = 64 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpuSeconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void sleepUntil(double t) {
  struct timespec ts = {(time_t)t, (long)((t - (time_t)t) * 1e9)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static int sink(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int big = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) != 0) return perror("bind"), 1;
  static char bufs[kBatch][2048];
  struct mmsghdr msgs[kBatch];
  struct iovec iov[kBatch];
  struct sockaddr_storage from[kBatch];
  unsigned long long count = 0;
  double window_start = 0, window_end = 1e300;
  for (;;) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = (struct iovec){bufs[i], sizeof bufs[i] - 1};
      msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i],
                                        .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE, NULL);
    // One clock read per batch: every datagram in it arrived before this instant.
    double arrived = now();
    for (int i = 0; i < n; ++i) {
      char* b = bufs[i];
      if (msgs[i].msg_len == 1 && b[0] == '?') {
        char reply[32];
        int len = snprintf(reply, sizeof reply, "%llu", count);
        sendto(fd, reply, len, 0, (struct sockaddr*)&from[i], msgs[i].msg_hdr.msg_namelen);
      } else if (msgs[i].msg_len < 64 && b[0] == 'W') {
        b[msgs[i].msg_len] = 0;
        if (sscanf(b + 1, "%lf %lf", &window_start, &window_end) == 2) count = 0;
        sendto(fd, "ok", 2, 0, (struct sockaddr*)&from[i], msgs[i].msg_hdr.msg_namelen);
      } else if (arrived >= window_start && arrived <= window_end) {
        ++count;
      }
    }
  }
}

// Sends `msg` and waits for the sink's answer (the path may drop either one: try again).
static int ask(int fd, const char* msg, char* reply, size_t size) {
  for (int tries = 0; tries < 25; ++tries) {
    send(fd, msg, strlen(msg), 0);
    ssize_t n = recv(fd, reply, size - 1, 0);
    if (n > 0) {
      reply[n] = 0;
      return 0;
    }
  }
  return -1;
}

static int blast(const char* host, const char* port, double seconds, double rate) {
  // Numeric addresses only (getaddrinfo does not link statically).
  struct sockaddr_storage to = {0};
  socklen_t to_len;
  struct sockaddr_in* v4 = (struct sockaddr_in*)&to;
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)&to;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(atoi(port));
    to_len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(atoi(port));
    to_len = sizeof *v6;
  } else {
    return fprintf(stderr, "not a numeric address: %s\n", host), 1;
  }
  if (rate <= 0) return fprintf(stderr, "RATE must be > 0 packets/s\n"), 1;
  int fd = socket(to.ss_family, SOCK_DGRAM, 0);
  if (connect(fd, (struct sockaddr*)&to, to_len) != 0) return perror("connect"), 1;
  char payload[kSize];
  memset(payload, 'x', sizeof payload);
  struct mmsghdr msgs[kBatch];
  struct iovec iov = {payload, sizeof payload};
  for (int i = 0; i < kBatch; ++i) msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1};
  struct timeval wait = {0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  char reply[64], window[64];
  // The window opens a little after the sink hears of it (and the flow through the path exists).
  double start = now() + 0.05, end = start + seconds;
  snprintf(window, sizeof window, "W %.6f %.6f", start, end);
  if (ask(fd, window, reply, sizeof reply) != 0) return fprintf(stderr, "the sink does not answer\n"), 1;
  sleepUntil(start);
  double cpu0 = cpuSeconds();
  // Paced: batch k goes out when the clock reaches start + k * kBatch / rate (a batch of 64
  // every 160 us at 400k/s); a sender that falls behind catches up at once and says so in `sent`.
  unsigned long long sent = 0;
  for (;;) {
    double t = now();
    if (t >= end) break;
    unsigned long long due = (unsigned long long)((t - start) * rate);
    if (due <= sent) {
      double next = start + (double)(sent + kBatch) / rate;
      sleepUntil(next < end ? next : end);
      continue;
    }
    unsigned long long want = due - sent;
    int n = sendmmsg(fd, msgs, want < kBatch ? (unsigned)want : kBatch, 0);
    if (n > 0) sent += n;
  }
  double took = now() - start;
  double cpu = cpuSeconds() - cpu0;
  usleep(300000);  // the sink's clock has stopped counting; let control datagrams through
  if (ask(fd, "?", reply, sizeof reply) != 0) return fprintf(stderr, "no count from the sink\n"), 1;
  printf("%llu %s %.3f %.4f\n", sent, reply, took, cpu);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "sink") == 0) return sink(atoi(argv[2]));
  if (argc == 6 && strcmp(argv[1], "blast") == 0)
    return blast(argv[2], argv[3], atof(argv[4]), atof(argv[5]));
  fprintf(stderr, "usage: udp_blast sink PORT | blast HOST PORT SECONDS RATE\n");
  return 2;
}
