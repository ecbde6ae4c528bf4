#pragma once
// TlsContext: the OpenSSL configuration of one mutual-TLS endpoint: our certificate and key,
// and the one CA a peer's certificate must chain to (no system roots). A server demands a
// client certificate (like dockerd --tlsverify); a client verifies the server's certificate and,
// per connection, its name or IP (TlsStream). Built once; immutable and safe to share across
// threads afterwards. load() throws std::runtime_error with one clear line. A client context
// may have no certificate (empty cert_file): only tests want one, to see it refused.
#include <memory>
#include <string>

using SSL_CTX = struct ssl_ctx_st;

namespace berth::net {

class TlsContext {
 public:
  enum class Role { Client, Server };

  static std::shared_ptr<const TlsContext> load(Role role, const std::string& ca_file,
                                                const std::string& cert_file,
                                                const std::string& key_file);
  // A client of public servers (artifact downloads): no certificate of ours, the server's
  // verified against the system's roots (OpenSSL's default paths, so SSL_CERT_FILE and
  // SSL_CERT_DIR apply). Throws std::runtime_error with one clear line.
  static std::shared_ptr<const TlsContext> systemClient();
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  Role role() const { return role_; }
  SSL_CTX* native() const { return ctx_; }

 private:
  TlsContext(Role role, SSL_CTX* ctx) : role_(role), ctx_(ctx) {}

  Role role_;
  SSL_CTX* ctx_;
};

using TlsContextPtr = std::shared_ptr<const TlsContext>;

}  // namespace berth::net
