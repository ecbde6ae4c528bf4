#include "server/TcpApiAccess.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <iostream>
#include <stdexcept>

#include "api/Numbers.h"
#include "server/net/Log.h"
#include "server/net/TlsContext.h"
#include "vm/TlsMaterial.h"

namespace berth::server {
namespace {

boost::asio::ip::address addressOf(const std::string& host) {
  return boost::asio::ip::make_address(host);
}

// This host's interface addresses of one family (a wildcard listener answers on all of them).
std::vector<std::string> interfaceAddresses(bool v6) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    boost::asio::ip::address a;
    if (!v6 && i->ifa_addr->sa_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      a = boost::asio::ip::address_v4(ntohl(sin->sin_addr.s_addr));
    } else if (v6 && i->ifa_addr->sa_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      boost::asio::ip::address_v6::bytes_type bytes;
      std::copy(std::begin(sin6->sin6_addr.s6_addr), std::end(sin6->sin6_addr.s6_addr),
                bytes.begin());
      auto a6 = boost::asio::ip::address_v6(bytes);
      if (a6.is_link_local()) continue;  // needs a scope id a URL cannot carry portably
      a = a6;
    } else {
      continue;
    }
    out.push_back(a.to_string());
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace

bool TcpApiAccess::Address::isLoopback() const { return addressOf(host).is_loopback(); }

bool TcpApiAccess::Address::isWildcard() const { return addressOf(host).is_unspecified(); }

std::string TcpApiAccess::Address::url() const {
  bool v6 = host.find(':') != std::string::npos;
  return "tcp://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string TcpApiAccess::ClientEnv::exports() const {
  std::string out = "DOCKER_HOST=" + docker_host + "\n";
  if (tls_verify) out += "DOCKER_TLS_VERIFY=1\nDOCKER_CERT_PATH=" + docker_cert_path + "\n";
  return out;
}

TcpApiAccess::Address TcpApiAccess::parse(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return std::runtime_error("bad listen address '" + url + "': " + why +
                              " (use tcp://127.0.0.1:2376 or tcp://[::1]:2376)");
  };
  constexpr std::string_view kScheme = "tcp://";
  if (url.rfind(kScheme, 0) != 0) throw bad("only tcp:// is supported");
  std::string rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  Address a;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      throw bad("expected [IPv6]:PORT");
    }
    a.host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string::npos || rest.find(':') != colon) throw bad("expected HOST:PORT");
    a.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (a.host == "localhost") a.host = "127.0.0.1";
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(a.host, ec);
  if (ec || (address.is_v6() && address.to_v6().scope_id() != 0)) {
    throw bad("'" + a.host + "' is not an IP address");
  }
  a.host = address.to_string();
  if (!api::parseWhole<unsigned>(port)) throw bad("the port must be a number");
  const auto number = api::parsePort(port);
  if (!number) throw bad("the port must be 1-65535");
  a.port = *number;
  return a;
}

std::vector<std::string> TcpApiAccess::serverNames(const std::vector<Address>& addresses) {
  std::vector<std::string> names{"localhost"};
  auto add = [&](const std::string& n) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  };
  for (const auto& a : addresses) {
    if (a.isWildcard()) {
      bool v6 = addressOf(a.host).is_v6();
      add(v6 ? "::1" : "127.0.0.1");
      for (const auto& ip : interfaceAddresses(v6)) add(ip);
    } else {
      add(a.host);
    }
  }
  return names;
}

std::vector<TcpApiAccess::ClientEnv> TcpApiAccess::open(RelayServer& relay,
                                                        const std::vector<std::string>& urls,
                                                        const std::string& tls_dir, bool insecure) {
  std::vector<Address> addresses;
  addresses.reserve(urls.size());
  for (const auto& url : urls) addresses.push_back(parse(url));
  std::vector<ClientEnv> envs;
  if (addresses.empty()) return envs;

  net::TlsContextPtr tls;
  std::string cert_path;
  if (insecure) {
    for (const auto& a : addresses) {
      if (!a.isLoopback()) {
        throw std::runtime_error("refusing plain TCP on " + a.url() +
                                 ": without TLS only a loopback address may be served (drop "
                                 "--insecure to use mutual TLS)");
      }
    }
  } else {
    auto files = vm::TlsMaterial::ensure(tls_dir, serverNames(addresses));
    tls = net::TlsContext::load(net::TlsContext::Role::Server, files.ca_cert, files.server_cert,
                                files.server_key);
    cert_path = files.client_dir;
  }
  for (const auto& a : addresses) {
    if (insecure) {
      std::string warning = "serving the Docker API on " + a.url() +
                            " over plain TCP, without TLS: every local user and process can "
                            "take over the engine";
      std::cerr << "berth: WARNING: " << warning << "\n";
      BERTH_LOG(Warn, "server", warning);
    }
    std::uint16_t port = relay.listenTcp(a.host, a.port, tls);
    ClientEnv env;
    Address reach = a;
    reach.port = port;
    if (a.isWildcard()) reach.host = addressOf(a.host).is_v6() ? "::1" : "127.0.0.1";
    env.docker_host = reach.url();
    env.tls_verify = !insecure;
    env.docker_cert_path = cert_path;
    envs.push_back(env);
  }
  return envs;
}

}  // namespace berth::server
