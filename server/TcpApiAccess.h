#pragma once
// TcpApiAccess: the Docker API over TCP (`--listen tcp://HOST:PORT`, `listen:` in berth.yaml).
// Mutual TLS always, like dockerd --tlsverify: the TLS material (CA, server and client certs)
// lives in one directory and is made on first use; the server certificate names every listen
// host. Plain TCP only when asked for explicitly (`insecure`) and only on a loopback address,
// with a warning. Control plane: parse()/open() throw std::runtime_error with one clear line.
// Not thread-safe; call from the daemon's setup thread.
#include <cstdint>
#include <string>
#include <vector>

#include "server/RelayServer.h"

namespace berth::server {

class TcpApiAccess {
 public:
  struct Address {
    std::string host;  // an IP literal, without brackets
    std::uint16_t port = 0;
    bool isLoopback() const;
    bool isWildcard() const;  // 0.0.0.0 or ::
    std::string url() const;  // tcp://HOST:PORT, IPv6 in brackets
  };

  // How a docker client reaches one listener: the environment to set.
  struct ClientEnv {
    std::string docker_host;       // tcp://127.0.0.1:PORT (a wildcard listen maps to loopback)
    bool tls_verify = true;        // DOCKER_TLS_VERIFY=1
    std::string docker_cert_path;  // the client folder (ca.pem, cert.pem, key.pem)
    // "DOCKER_HOST=... DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=..." lines (export-ready).
    std::string exports() const;
  };

  // Parses tcp://HOST:PORT (HOST an IPv4 or [IPv6] literal, or localhost).
  static Address parse(const std::string& url);

  // Opens every listener on `relay`; with TLS the material lives in `tls_dir`. Returns what a
  // client sets to use each, in the order given.
  static std::vector<ClientEnv> open(RelayServer& relay, const std::vector<std::string>& urls,
                                     const std::string& tls_dir, bool insecure);

  // The names the server certificate must carry for `addresses` (a wildcard adds loopback and
  // this host's interface addresses).
  static std::vector<std::string> serverNames(const std::vector<Address>& addresses);
};

}  // namespace berth::server
