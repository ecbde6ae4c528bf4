#pragma once
// TlsMaterial: the certificates of one mutual-TLS endpoint, kept in one directory: a CA, a
// server certificate (SANs: IP addresses and DNS names) and a client certificate, all signed by
// that CA. ensure() reuses what is there and valid, and (re)creates only what is missing,
// unreadable, expiring, or (server) not covering the names asked for. Keys are 0600, the
// directories 0700. The client files sit in `client/` named as the docker CLI expects
// (DOCKER_CERT_PATH: ca.pem, cert.pem, key.pem). Thread-safe across threads and processes
// (an flock on the directory while it works); throws std::runtime_error with one clear line.
#include <string>
#include <vector>

namespace berth::vm {

class TlsMaterial {
 public:
  struct Files {
    std::string dir;
    std::string ca_cert;      // dir/ca.pem
    std::string ca_key;       // dir/ca-key.pem (never leaves the host)
    std::string server_cert;  // dir/server-cert.pem
    std::string server_key;   // dir/server-key.pem
    std::string client_dir;   // dir/client: DOCKER_CERT_PATH
    std::string client_ca;    // dir/client/ca.pem (a copy of ca.pem)
    std::string client_cert;  // dir/client/cert.pem
    std::string client_key;   // dir/client/key.pem
  };

  // The paths of the files in `dir`, touching nothing.
  static Files layout(const std::string& dir);

  // Makes `dir` hold a valid CA, a server certificate whose SANs include every entry of
  // `server_names` (an IPv4/IPv6 literal becomes an IP SAN, anything else a DNS SAN), and a
  // client certificate. A new CA reissues both leaf certificates.
  static Files ensure(const std::string& dir, const std::vector<std::string>& server_names);
};

}  // namespace berth::vm
