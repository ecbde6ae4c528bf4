#include "server/net/TlsStream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <utility>
#include <vector>

namespace berth::net {
namespace {

// Plaintext taken per writeSome: its ciphertext is flushed before the write completes, so a
// fast writer never piles up more than this in memory.
constexpr std::size_t kMaxWritePlaintext = std::size_t{64} * 1024;
constexpr std::size_t kSocketReadBytes =
    std::size_t{17} * 1024;  // one full TLS record and its framing

bool isIpLiteral(const std::string& name) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

ErrorCode sslErrorFromQueue() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return boost::asio::ssl::error::stream_truncated;
  return ErrorCode(static_cast<int>(e), boost::asio::error::get_ssl_category());
}

}  // namespace

// The TLS state machine and its socket. Socket completions hold a shared_ptr to it, so it
// outlives the TlsStream that owns it until every pending socket operation has finished.
class TlsStream::Impl : public std::enable_shared_from_this<Impl> {
  // A socket completion's hold on the Impl. The user handlers stored here often own the
  // TlsStream that owns this Impl (a session keeps its stream and is kept by its pending read).
  // Asio runs every completion except those an io_context destroys unrun at its shutdown; such
  // a completion drops the stored handlers, so that cycle cannot outlive the io_context.
  class Pending {
   public:
    explicit Pending(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    Pending(Pending&&) noexcept = default;
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;
    Pending& operator=(Pending&&) = delete;
    ~Pending() {
      if (impl_) impl_->dropHandlers();
    }
    // The completion runs: from here the normal path owns the Impl and its handlers.
    std::shared_ptr<Impl> run() { return std::move(impl_); }

   private:
    std::shared_ptr<Impl> impl_;
  };

 public:
  Impl(boost::asio::ip::tcp::socket socket, TlsContextPtr context, const std::string& peer_name)
      : socket_(std::move(socket)), context_(std::move(context)), input_(kSocketReadBytes) {
    ssl_ = SSL_new(context_->native());
    if (!ssl_) {
      init_error_ = sslErrorFromQueue();
      return;
    }
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    if (!rbio_ || !wbio_) {
      BIO_free(rbio_);
      BIO_free(wbio_);
      rbio_ = wbio_ = nullptr;
      init_error_ = sslErrorFromQueue();
      return;
    }
    // An empty input BIO means "wait for the socket", not EOF.
    BIO_set_mem_eof_return(rbio_, -1);
    SSL_set_bio(ssl_, rbio_, wbio_);
    if (context_->role() == TlsContext::Role::Server) {
      SSL_set_accept_state(ssl_);
    } else {
      SSL_set_connect_state(ssl_);
      if (!peer_name.empty()) {
        if (isIpLiteral(peer_name)) {
          X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), peer_name.c_str());
        } else {
          SSL_set_tlsext_host_name(ssl_, peer_name.c_str());
          SSL_set1_host(ssl_, peer_name.c_str());
        }
      }
    }
  }

  ~Impl() {
    if (ssl_) SSL_free(ssl_);  // frees both BIOs
  }

  boost::asio::any_io_executor executor() { return socket_.get_executor(); }

  void handshake(std::function<void(ErrorCode)> handler) {
    if (!ssl_) return post([handler = std::move(handler), ec = init_error_] { handler(ec); });
    handshake_.handler = std::move(handler);
    handshake_.finished = false;
    drive(false);
  }

  void readSome(boost::asio::mutable_buffer buffer, IoHandler handler) {
    if (closed_ || !ssl_) {
      return post(
          [handler = std::move(handler)] { handler(boost::asio::error::operation_aborted, 0); });
    }
    if (buffer.size() == 0) return post([handler = std::move(handler)] { handler({}, 0); });
    read_.handler = std::move(handler);
    read_.buffer = buffer;
    drive(false);
  }

  void writeSome(std::span<const boost::asio::const_buffer> buffers, IoHandler handler) {
    if (closed_ || !ssl_) {
      return post(
          [handler = std::move(handler)] { handler(boost::asio::error::operation_aborted, 0); });
    }
    if (close_notify_sent_) {
      return post([handler = std::move(handler)] { handler(boost::asio::error::shut_down, 0); });
    }
    // Gather into one plaintext block: fewer, fuller TLS records.
    write_.plaintext.clear();
    for (const auto& b : buffers) {
      std::size_t take = std::min(b.size(), kMaxWritePlaintext - write_.plaintext.size());
      const char* p = static_cast<const char*>(b.data());
      write_.plaintext.insert(write_.plaintext.end(), p, p + take);
      if (write_.plaintext.size() == kMaxWritePlaintext) break;
    }
    if (write_.plaintext.empty()) return post([handler = std::move(handler)] { handler({}, 0); });
    write_.handler = std::move(handler);
    write_.encrypted = false;
    drive(false);
  }

  void shutdownSend(std::function<void(ErrorCode)> handler) {
    if (closed_ || !ssl_) {
      return post(
          [handler = std::move(handler)] { handler(boost::asio::error::operation_aborted); });
    }
    shutdown_.handler = std::move(handler);
    shutdown_.finished = false;
    drive(false);
  }

  void close() {
    if (closed_) return;
    // Best effort, never blocking: tell a peer that is still there that we end on purpose.
    if (ssl_ && SSL_is_init_finished(ssl_) && !close_notify_sent_ && !write_error_ && !writing_ &&
        BIO_ctrl_pending(wbio_) == 0) {
      ERR_clear_error();
      if (SSL_shutdown(ssl_) >= 0) {
        close_notify_sent_ = true;
        std::vector<char> out(BIO_ctrl_pending(wbio_));
        int n = out.empty() ? 0 : BIO_read(wbio_, out.data(), static_cast<int>(out.size()));
        if (n > 0) {
          ErrorCode ignored;
          socket_.non_blocking(true, ignored);
          socket_.write_some(boost::asio::buffer(out.data(), static_cast<std::size_t>(n)), ignored);
        }
      }
      ERR_clear_error();
    }
    closed_ = true;
    ErrorCode ignored;
    socket_.close(ignored);
    const ErrorCode aborted = boost::asio::error::operation_aborted;
    if (handshake_.handler) post([h = std::move(handshake_.handler), aborted] { h(aborted); });
    if (read_.handler) post([h = std::move(read_.handler), aborted] { h(aborted, 0); });
    if (write_.handler) post([h = std::move(write_.handler), aborted] { h(aborted, 0); });
    if (shutdown_.handler) post([h = std::move(shutdown_.handler), aborted] { h(aborted); });
    handshake_.handler = nullptr;
    read_.handler = nullptr;
    write_.handler = nullptr;
    shutdown_.handler = nullptr;
  }

  // Destroys the stored handlers without calling them (see Pending). They go out of the members
  // first: destroying one may destroy the TlsStream, whose destructor closes this Impl.
  void dropHandlers() {
    auto handshake = std::exchange(handshake_.handler, nullptr);
    auto read = std::exchange(read_.handler, nullptr);
    auto write = std::exchange(write_.handler, nullptr);
    auto shutdown = std::exchange(shutdown_.handler, nullptr);
  }

  std::string peerSubject() const {
    if (!ssl_) return {};
    X509* cert = SSL_get0_peer_certificate(ssl_);
    if (!cert) return {};
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
    return buf;
  }

  std::string verifyError() const {
    if (!ssl_) return {};
    long result = SSL_get_verify_result(ssl_);
    if (result == X509_V_OK) return {};
    return X509_verify_cert_error_string(result);
  }

 private:
  template <class F>
  void post(F&& f) {
    boost::asio::post(socket_.get_executor(), std::forward<F>(f));
  }

  // Makes every pending operation progress as far as the bytes at hand allow, starts socket
  // I/O where it is needed, and completes what is done. `from_io` is true when called from a
  // socket completion (handlers may run inline); false from an initiating call (they are
  // posted, as Asio requires).
  void drive(bool from_io) {
    if (closed_) return;
    std::vector<std::function<void()>> done;
    bool need_input = false;

    if (handshake_.handler && !handshake_.finished) {
      ERR_clear_error();
      int r = SSL_do_handshake(ssl_);
      if (r == 1) {
        handshake_.finished = true;
      } else if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ && !inputEnded()) {
        need_input = true;
      } else {
        handshake_.finished = true;
        handshake_.error = failure(r);
      }
    }
    const bool handshaking = handshake_.handler && !SSL_is_init_finished(ssl_);

    if (read_.handler && !handshaking) {
      ERR_clear_error();
      std::size_t n = 0;
      int r = SSL_read_ex(ssl_, read_.buffer.data(), read_.buffer.size(), &n);
      if (r == 1) {
        done.push_back([h = std::move(read_.handler), n] { h({}, n); });
        read_.handler = nullptr;
      } else {
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_READ && !inputEnded()) {
          need_input = true;
        } else {
          ErrorCode ec =
              err == SSL_ERROR_ZERO_RETURN ? ErrorCode(boost::asio::error::eof) : failure(r);
          done.push_back([h = std::move(read_.handler), ec] { h(ec, 0); });
          read_.handler = nullptr;
        }
      }
    }

    if (write_.handler && !write_.encrypted && !handshaking) {
      ERR_clear_error();
      std::size_t n = 0;
      int r = SSL_write_ex(ssl_, write_.plaintext.data(), write_.plaintext.size(), &n);
      if (r == 1) {
        write_.encrypted = true;
        write_.count = n;
      } else if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ && !inputEnded()) {
        need_input = true;  // only while a handshake message is still due
      } else {
        ErrorCode ec = failure(r);
        done.push_back([h = std::move(write_.handler), ec] { h(ec, 0); });
        write_.handler = nullptr;
      }
    }

    if (shutdown_.handler && !shutdown_.finished && (!write_.handler || write_.encrypted)) {
      shutdown_.finished = true;
      if (!close_notify_sent_) {
        ERR_clear_error();
        int r = SSL_shutdown(ssl_);  // 0: our close_notify is queued, the peer's not yet seen
        if (r < 0) {
          shutdown_.error = failure(r);
        } else {
          close_notify_sent_ = true;
        }
      }
    }

    flush();
    const bool flushed = !writing_ && BIO_ctrl_pending(wbio_) == 0;
    // What went out must be on the wire (or failed) before an operation reports done: a
    // fast writer then waits for the network, and a peer always gets our alerts.
    if (handshake_.handler && handshake_.finished && (flushed || write_error_)) {
      ErrorCode ec = handshake_.error ? handshake_.error : write_error_;
      done.push_back([h = std::move(handshake_.handler), ec] { h(ec); });
      handshake_.handler = nullptr;
    }
    if (write_.handler && write_.encrypted && (flushed || write_error_)) {
      ErrorCode ec = write_error_;
      std::size_t n = ec ? 0 : write_.count;
      done.push_back([h = std::move(write_.handler), ec, n] { h(ec, n); });
      write_.handler = nullptr;
    }
    if (shutdown_.handler && shutdown_.finished && (flushed || write_error_)) {
      ErrorCode ec = shutdown_.error ? shutdown_.error : write_error_;
      done.push_back([h = std::move(shutdown_.handler), ec] { h(ec); });
      shutdown_.handler = nullptr;
    }

    if (need_input && !reading_) readSocket();

    for (auto& f : done) {
      if (from_io) {
        f();
      } else {
        post(std::move(f));
      }
    }
  }

  bool inputEnded() const { return socket_eof_; }

  // The error for a failed SSL call: the socket's own error when it was the cause.
  ErrorCode failure(int r) {
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_ZERO_RETURN) return boost::asio::error::eof;
    if (err == SSL_ERROR_SSL) {
      ErrorCode ec = sslErrorFromQueue();
      return ec;
    }
    ERR_clear_error();
    if (read_error_) return read_error_;
    if (write_error_) return write_error_;
    return socket_eof_ ? ErrorCode(boost::asio::error::eof)
                       : ErrorCode(boost::asio::ssl::error::stream_truncated);
  }

  void flush() {
    if (writing_ || write_error_ || closed_) return;
    std::size_t pending = BIO_ctrl_pending(wbio_);
    if (pending == 0) return;
    output_.resize(pending);
    int n = BIO_read(wbio_, output_.data(), static_cast<int>(pending));
    if (n <= 0) return;
    output_.resize(static_cast<std::size_t>(n));
    writing_ = true;
    boost::asio::async_write(
        socket_, boost::asio::buffer(output_),
        [pending = Pending(shared_from_this())](ErrorCode ec, std::size_t) mutable {
          const auto self = pending.run();
          self->writing_ = false;
          if (self->closed_) return;
          if (ec) self->write_error_ = ec;
          self->drive(true);
        });
  }

  void readSocket() {
    reading_ = true;
    socket_.async_read_some(boost::asio::buffer(input_), [pending = Pending(shared_from_this())](
                                                             ErrorCode ec, std::size_t n) mutable {
      const auto self = pending.run();
      self->reading_ = false;
      if (self->closed_) return;
      if (n > 0) BIO_write(self->rbio_, self->input_.data(), static_cast<int>(n));
      if (ec) {
        // From here on OpenSSL sees EOF: pending reads end instead
        // of waiting for bytes that will never come.
        self->socket_eof_ = true;
        if (ec != boost::asio::error::eof) self->read_error_ = ec;
        BIO_set_mem_eof_return(self->rbio_, 0);
      }
      self->drive(true);
    });
  }

  struct Handshake {
    std::function<void(ErrorCode)> handler;
    bool finished = false;
    ErrorCode error;
  };
  struct Read {
    IoHandler handler;
    boost::asio::mutable_buffer buffer;
  };
  struct Write {
    IoHandler handler;
    std::vector<char> plaintext;
    bool encrypted = false;
    std::size_t count = 0;
  };
  struct Shutdown {
    std::function<void(ErrorCode)> handler;
    bool finished = false;
    ErrorCode error;
  };

  boost::asio::ip::tcp::socket socket_;
  TlsContextPtr context_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // socket -> OpenSSL
  BIO* wbio_ = nullptr;  // OpenSSL -> socket
  ErrorCode init_error_;

  Handshake handshake_;
  Read read_;
  Write write_;
  Shutdown shutdown_;

  std::vector<char> input_;
  std::vector<char> output_;
  bool reading_ = false;
  bool writing_ = false;
  bool socket_eof_ = false;
  bool close_notify_sent_ = false;
  bool closed_ = false;
  ErrorCode read_error_;
  ErrorCode write_error_;
};

TlsStream::TlsStream(boost::asio::ip::tcp::socket socket, TlsContextPtr context,
                     const std::string& peer_name, std::string description)
    : impl_(std::make_shared<Impl>(std::move(socket), std::move(context), peer_name)),
      description_(std::move(description)) {}

TlsStream::~TlsStream() { impl_->close(); }

void TlsStream::handshake(std::function<void(ErrorCode)> handler) {
  impl_->handshake(std::move(handler));
}
boost::asio::any_io_executor TlsStream::executor() { return impl_->executor(); }
void TlsStream::readSome(boost::asio::mutable_buffer buffer, IoHandler handler) {
  impl_->readSome(buffer, std::move(handler));
}
void TlsStream::writeSome(std::span<const boost::asio::const_buffer> buffers, IoHandler handler) {
  impl_->writeSome(buffers, std::move(handler));
}
void TlsStream::shutdownSend(std::function<void(ErrorCode)> handler) {
  impl_->shutdownSend(std::move(handler));
}
void TlsStream::close() { impl_->close(); }
std::string TlsStream::peerSubject() const { return impl_->peerSubject(); }
std::string TlsStream::verifyError() const { return impl_->verifyError(); }

}  // namespace berth::net
