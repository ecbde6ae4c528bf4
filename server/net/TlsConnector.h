#pragma once
// TlsConnector: opens a mutual-TLS connection to an engine endpoint (dockerd --tlsverify in
// the qemu guest, reached through a QEMU hostfwd): TCP connect, handshake with our client
// certificate, and verification of the server's certificate against our CA and the expected
// name or IP. Connect and handshake together are bounded by `timeout`. Thread-safe: immutable
// after construction; the handler runs on the executor given to connect().
#include <chrono>
#include <cstdint>

#include "server/net/Connector.h"
#include "server/net/TlsContext.h"

namespace berth::net {

class TlsConnector final : public Connector {
 public:
  // `server_name` empty: the certificate must carry `host`.
  TlsConnector(std::string host, std::uint16_t port, TlsContextPtr context,
               std::string server_name = {},
               std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Loads the client context from PEM files; throws std::runtime_error with one clear line.
  static std::shared_ptr<TlsConnector> fromFiles(std::string host, std::uint16_t port,
                                                 const std::string& ca_file,
                                                 const std::string& cert_file,
                                                 const std::string& key_file,
                                                 std::string server_name = {});

  // What errors call the peer ("the Docker engine" unless set; e.g. "the k3s mirror").
  void setPeerName(std::string peer) { peer_ = std::move(peer); }

  void connect(boost::asio::any_io_executor executor, ConnectHandler handler) override;
  std::string describe() const override;

 private:
  std::string host_;
  std::uint16_t port_;
  TlsContextPtr context_;
  std::string server_name_;
  std::chrono::milliseconds timeout_;
  std::string peer_ = "the Docker engine";
};

}  // namespace berth::net
