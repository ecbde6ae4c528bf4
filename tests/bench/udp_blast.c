// UDP packet-rate probe for forwarding_bench.py (iperf3's server tops out near 45k packets/s
// here, below what a forward can carry, so it cannot tell the proxies apart).
//   udp_blast sink PORT               counts datagrams; a datagram "?" is answered with the
//                                     count so far (as text) and resets it
//   udp_blast blast HOST PORT SECS    sends 64-byte datagrams as fast as sendmmsg goes for
//                                     SECS, then asks the sink (through the same path) for
//                                     its count and prints "sent delivered seconds"
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kBatch = 64, kSize = 64 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
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
  for (;;) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
      msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i],
                                        .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE, NULL);
    for (int i = 0; i < n; ++i) {
      if (msgs[i].msg_len == 1 && bufs[i][0] == '?') {
        char reply[32];
        int len = snprintf(reply, sizeof reply, "%llu", count);
        sendto(fd, reply, len, 0, (struct sockaddr*)&from[i], msgs[i].msg_hdr.msg_namelen);
        count = 0;
      } else {
        ++count;
      }
    }
  }
}

static int blast(const char* host, const char* port, double seconds) {
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
  int fd = socket(to.ss_family, SOCK_DGRAM, 0);
  if (connect(fd, (struct sockaddr*)&to, to_len) != 0) return perror("connect"), 1;
  char payload[kSize];
  memset(payload, 'x', sizeof payload);
  struct mmsghdr msgs[kBatch];
  struct iovec iov = {payload, sizeof payload};
  for (int i = 0; i < kBatch; ++i) msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1};
  struct timeval wait = {0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  char reply[64];
  // Reset the sink's count (and open the flow) before the clock starts.
  for (int tries = 0; tries < 25; ++tries) {
    send(fd, "?", 1, 0);
    if (recv(fd, reply, sizeof reply, 0) > 0) break;
  }
  unsigned long long sent = 0;
  double start = now(), end = start + seconds;
  while (now() < end) {
    int n = sendmmsg(fd, msgs, kBatch, 0);
    if (n > 0) sent += n;
  }
  double took = now() - start;
  usleep(300000);  // let queued datagrams drain
  for (int tries = 0; tries < 25; ++tries) {
    send(fd, "?", 1, 0);
    ssize_t n = recv(fd, reply, sizeof reply - 1, 0);
    if (n > 0) {
      reply[n] = 0;
      printf("%llu %s %.3f\n", sent, reply, took);
      return 0;
    }
  }
  fprintf(stderr, "no count from the sink\n");
  return 1;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "sink") == 0) return sink(atoi(argv[2]));
  if (argc == 5 && strcmp(argv[1], "blast") == 0) return blast(argv[2], argv[3], atof(argv[4]));
  fprintf(stderr, "usage: udp_blast sink PORT | blast HOST PORT SECONDS\n");
  return 2;
}
