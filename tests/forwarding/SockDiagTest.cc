#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cstring>

#include "forwarding/SockDiag.h"

namespace berth::fwd {
namespace {

// Appends one netlink message (header + payload) to a datagram, padded as the kernel pads.
void append(std::vector<char>& datagram, std::uint16_t type, std::uint32_t sequence,
            const void* payload, std::size_t length) {
  nlmsghdr header{};
  header.nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + length);
  header.nlmsg_type = type;
  header.nlmsg_seq = sequence;
  const std::size_t start = datagram.size();
  datagram.resize(start + NLMSG_ALIGN(header.nlmsg_len));
  std::memcpy(datagram.data() + start, &header, sizeof header);
  if (payload) std::memcpy(datagram.data() + start + NLMSG_HDRLEN, payload, length);
}

void appendSocket(std::vector<char>& datagram, std::uint32_t sequence, int family,
                  const char* address, std::uint16_t port, std::uint8_t state = TCP_LISTEN) {
  inet_diag_msg msg{};
  msg.idiag_family = static_cast<std::uint8_t>(family);
  msg.idiag_state = state;
  msg.id.idiag_sport = htons(port);
  ASSERT_EQ(inet_pton(family, address, msg.id.idiag_src), 1);
  append(datagram, SOCK_DIAG_BY_FAMILY, sequence, &msg, sizeof msg);
}

TEST(SockDiagTest, RequestAsksForTcpListenersOfOneFamily) {
  auto bytes = SockDiag::listenRequest(AF_INET6, 7);
  ASSERT_EQ(bytes.size(), sizeof(nlmsghdr) + sizeof(inet_diag_req_v2));
  nlmsghdr header;
  std::memcpy(&header, bytes.data(), sizeof header);
  EXPECT_EQ(header.nlmsg_len, bytes.size());
  EXPECT_EQ(header.nlmsg_type, SOCK_DIAG_BY_FAMILY);
  EXPECT_EQ(header.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(header.nlmsg_seq, 7u);
  inet_diag_req_v2 request;
  std::memcpy(&request, bytes.data() + sizeof header, sizeof request);
  EXPECT_EQ(request.sdiag_family, AF_INET6);
  EXPECT_EQ(request.sdiag_protocol, IPPROTO_TCP);
  EXPECT_EQ(request.idiag_states, 1u << TCP_LISTEN);
}

TEST(SockDiagTest, ParsesADumpOverSeveralDatagrams) {
  std::vector<char> first, second;
  appendSocket(first, 3, AF_INET, "0.0.0.0", 80);
  appendSocket(first, 3, AF_INET6, "::1", 8080);
  appendSocket(first, 3, AF_INET, "127.0.0.1", 5432, TCP_ESTABLISHED);  // not a listener
  appendSocket(second, 3, AF_INET, "10.0.0.2", 22);
  append(second, NLMSG_DONE, 3, nullptr, 4);
  appendSocket(second, 3, AF_INET, "0.0.0.0", 9);  // after DONE: not read

  std::vector<ListeningSocket> out;
  std::string error;
  EXPECT_EQ(SockDiag::parse(first.data(), first.size(), 3, out, error), SockDiag::Parse::More);
  EXPECT_EQ(SockDiag::parse(second.data(), second.size(), 3, out, error), SockDiag::Parse::Done);
  EXPECT_EQ(out, (std::vector<ListeningSocket>{{"0.0.0.0", 80}, {"::1", 8080}, {"10.0.0.2", 22}}));
  EXPECT_TRUE(error.empty());
}

TEST(SockDiagTest, SkipsRepliesToAnEarlierDump) {
  std::vector<char> datagram;
  appendSocket(datagram, 1, AF_INET, "0.0.0.0", 1111);
  append(datagram, NLMSG_DONE, 1, nullptr, 4);
  appendSocket(datagram, 2, AF_INET, "0.0.0.0", 2222);
  append(datagram, NLMSG_DONE, 2, nullptr, 4);
  std::vector<ListeningSocket> out;
  std::string error;
  EXPECT_EQ(SockDiag::parse(datagram.data(), datagram.size(), 2, out, error),
            SockDiag::Parse::Done);
  EXPECT_EQ(out, (std::vector<ListeningSocket>{{"0.0.0.0", 2222}}));
}

TEST(SockDiagTest, KernelErrorAndMalformedMessagesAreErrors) {
  std::vector<char> datagram;
  nlmsgerr failure{};
  failure.error = -EPERM;
  append(datagram, NLMSG_ERROR, 5, &failure, sizeof failure);
  std::vector<ListeningSocket> out;
  std::string error;
  EXPECT_EQ(SockDiag::parse(datagram.data(), datagram.size(), 5, out, error),
            SockDiag::Parse::Error);
  EXPECT_NE(error.find("Operation not permitted"), std::string::npos) << error;

  // A length past the datagram's end, and a payload too short for an inet_diag_msg.
  std::vector<char> cut;
  appendSocket(cut, 5, AF_INET, "0.0.0.0", 80);
  error.clear();
  EXPECT_EQ(SockDiag::parse(cut.data(), cut.size() - 8, 5, out, error), SockDiag::Parse::Error);
  EXPECT_FALSE(error.empty());
  std::vector<char> short_payload;
  append(short_payload, SOCK_DIAG_BY_FAMILY, 5, "abcd", 4);
  EXPECT_EQ(SockDiag::parse(short_payload.data(), short_payload.size(), 5, out, error),
            SockDiag::Parse::Error);
  EXPECT_TRUE(out.empty());
  // A trailing fragment smaller than a header is ignored; an empty datagram asks for more.
  EXPECT_EQ(SockDiag::parse("abc", 3, 5, out, error), SockDiag::Parse::More);
}

TEST(SockDiagTest, OnlyWildcardAndLoopbackListenersAreReachable) {
  for (const char* yes : {"0.0.0.0", "::", "127.0.0.1", "127.0.0.53", "::1"})
    EXPECT_TRUE(SockDiag::wildcardOrLoopback(yes)) << yes;
  for (const char* no : {"172.30.1.2", "10.0.0.1", "fe80::1", "::ffff:127.0.0.1"})
    EXPECT_FALSE(SockDiag::wildcardOrLoopback(no)) << no;
}

}  // namespace
}  // namespace berth::fwd
