#include "forwarding/SockDiag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

namespace berth::fwd {

std::vector<char> SockDiag::listenRequest(int family, std::uint32_t sequence) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.header.nlmsg_seq = sequence;
  message.request.sdiag_family = static_cast<std::uint8_t>(family);
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = 1U << TCP_LISTEN;
  const char* bytes = reinterpret_cast<const char*>(&message);
  return {bytes, bytes + sizeof message};
}

SockDiag::Parse SockDiag::parse(const char* data, std::size_t length, std::uint32_t sequence,
                                std::vector<ListeningSocket>& out, std::string& error) {
  std::size_t offset = 0;
  while (length - offset >= sizeof(nlmsghdr)) {
    nlmsghdr header;
    std::memcpy(&header, data + offset, sizeof header);  // the datagram may be unaligned
    if (header.nlmsg_len < sizeof header || header.nlmsg_len > length - offset) {
      error = "malformed netlink message (length " + std::to_string(header.nlmsg_len) + ")";
      return Parse::Error;
    }
    const char* payload = data + offset + NLMSG_HDRLEN;
    const std::size_t payload_length =
        header.nlmsg_len - std::min<std::size_t>(header.nlmsg_len, NLMSG_HDRLEN);
    offset += NLMSG_ALIGN(header.nlmsg_len);
    if (header.nlmsg_seq != sequence) continue;  // a late reply to an earlier dump
    if (header.nlmsg_type == NLMSG_DONE) return Parse::Done;
    if (header.nlmsg_type == NLMSG_ERROR) {
      nlmsgerr failure{};
      if (payload_length >= sizeof failure) std::memcpy(&failure, payload, sizeof failure);
      error = "sock_diag dump failed: " + std::string(std::strerror(-failure.error));
      return Parse::Error;
    }
    if (header.nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
    if (payload_length < sizeof(inet_diag_msg)) {
      error = "short inet_diag message";
      return Parse::Error;
    }
    inet_diag_msg socket;
    std::memcpy(&socket, payload, sizeof socket);
    if (socket.idiag_state != TCP_LISTEN) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (socket.idiag_family == AF_INET) {
      ::inet_ntop(AF_INET, socket.id.idiag_src, text, sizeof text);
    } else if (socket.idiag_family == AF_INET6) {
      ::inet_ntop(AF_INET6, socket.id.idiag_src, text, sizeof text);
    } else {
      continue;
    }
    out.push_back({text, ntohs(socket.id.idiag_sport)});
  }
  return Parse::More;
}

bool SockDiag::wildcardOrLoopback(const std::string& address) {
  return address == "0.0.0.0" || address == "::" || address == "::1" ||
         address.rfind("127.", 0) == 0;
}

}  // namespace berth::fwd
