#include "server/net/TlsContext.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

#include "server/net/OpenSslError.h"

namespace berth::net {
namespace {

// Settings every context shares.
void harden(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Renegotiation is an old attack surface and nothing in the Docker world needs it.
  // A peer that drops TCP without close_notify ends the stream like EOF: HTTP framing (and the
  // hijacked protocols) carry their own ends, and Go clients often just close.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

}  // namespace

std::shared_ptr<const TlsContext> TlsContext::systemClient() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) throw std::runtime_error("cannot create a TLS context: " + takeOpenSslError());
  std::shared_ptr<const TlsContext> result(new TlsContext(Role::Client, ctx));
  harden(ctx);
  if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    throw std::runtime_error("cannot load the system's TLS roots: " + takeOpenSslError());
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  ERR_clear_error();
  return result;
}

std::shared_ptr<const TlsContext> TlsContext::load(Role role, const std::string& ca_file,
                                                   const std::string& cert_file,
                                                   const std::string& key_file) {
  SSL_CTX* ctx = SSL_CTX_new(role == Role::Server ? TLS_server_method() : TLS_client_method());
  if (!ctx) throw std::runtime_error("cannot create a TLS context: " + takeOpenSslError());
  std::shared_ptr<const TlsContext> result(new TlsContext(role, ctx));

  harden(ctx);

  if (role == Role::Server || !cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
      throw std::runtime_error("cannot load TLS certificate " + cert_file + ": " +
                               takeOpenSslError());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw std::runtime_error("cannot load TLS key " + key_file + ": " + takeOpenSslError());
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      throw std::runtime_error("TLS key " + key_file + " does not match " + cert_file);
    }
  }
  // Only our CA: never the system roots, or any public certificate would get in.
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    throw std::runtime_error("cannot load TLS CA " + ca_file + ": " + takeOpenSslError());
  }
  if (role == Role::Server) {
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    // No session resumption: every connection proves its client certificate afresh.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  ERR_clear_error();
  return result;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace berth::net
