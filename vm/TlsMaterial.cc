#include "vm/TlsMaterial.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>

#include "server/net/Files.h"
#include "server/net/OpenSslError.h"
#include "vm/PrivateDir.h"

namespace berth::vm {
namespace {

constexpr int kCaDays = 3650;
constexpr int kLeafDays = 825;
constexpr long kRenewBeforeDays = 30;     // reissue a certificate this close to its end
constexpr long kClockSkewSeconds = 3600;  // a guest clock may lag the host a little

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free_all(p); }
};
using CertPtr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

[[noreturn]] void failSsl(const std::string& what) {
  throw std::runtime_error(what + ": " + net::takeOpenSslError());
}

[[noreturn]] void failErrno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// Creates `dir` 0700 or tightens our own existing one to 0700 (these folders are berth's
// alone); refuses one that is not private (PrivateDir's rules).
void ensurePrivateDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) failErrno("cannot create " + dir);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
      (st.st_mode & 07777) != 0700 && ::chmod(dir.c_str(), 0700) != 0) {
    failErrno("cannot chmod 0700 " + dir);
  }
  PrivateDir::check(dir);
}

std::string toPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) failSsl("cannot encode a certificate");
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string toPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    failSsl("cannot encode a private key");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// Reading never throws: anything unreadable is simply "not valid", and gets recreated.
CertPtr readCert(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  CertPtr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return cert;
}

KeyPtr readKey(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  KeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return key;
}

KeyPtr generateKey() {
  // P-256 ECDSA: generated in microseconds, accepted by Go's crypto/tls (docker CLI, dockerd).
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) failSsl("cannot generate a key");
  return key;
}

bool isIpLiteral(const std::string& name) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

bool isDnsName(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '*';
    if (!ok) return false;
  }
  return true;
}

void addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (!ext) failSsl(std::string("cannot build certificate extension ") + OBJ_nid2sn(nid));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) failSsl("cannot add a certificate extension");
}

void addSubjectAltNames(X509* cert, const std::vector<std::string>& names) {
  GENERAL_NAMES* list = sk_GENERAL_NAME_new_null();
  for (const auto& name : names) {
    GENERAL_NAME* entry = GENERAL_NAME_new();
    if (isIpLiteral(name)) {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
      GENERAL_NAME_set0_value(entry, GEN_IPADD, ip);
    } else {
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size()));
      GENERAL_NAME_set0_value(entry, GEN_DNS, dns);
    }
    sk_GENERAL_NAME_push(list, entry);
  }
  int ok = X509_add1_ext_i2d(cert, NID_subject_alt_name, list, 0, X509V3_ADD_DEFAULT);
  GENERAL_NAMES_free(list);
  if (ok != 1) failSsl("cannot add the subjectAltName extension");
}

enum class CertKind { Ca, Server, Client };

// Issues a certificate for `key`; a CA signs itself (issuer and issuer_key null).
CertPtr issue(CertKind kind, EVP_PKEY* key, const std::string& common_name, X509* issuer,
              EVP_PKEY* issuer_key, const std::vector<std::string>& sans) {
  CertPtr cert(X509_new());
  if (!cert) failSsl("cannot allocate a certificate");
  X509_set_version(cert.get(), 2);  // v3
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    failSsl("cannot make a serial number");
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kClockSkewSeconds);
  X509_time_adj_ex(X509_getm_notAfter(cert.get()), kind == CertKind::Ca ? kCaDays : kLeafDays, 0,
                   nullptr);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("berth"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509* signer = issuer ? issuer : cert.get();
  EVP_PKEY* signer_key = issuer_key ? issuer_key : key;
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (X509_set_pubkey(cert.get(), key) != 1) failSsl("cannot set a certificate's key");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
  addExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  addExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  switch (kind) {
    case CertKind::Ca:
      addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
      addExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
      break;
    case CertKind::Server:
      addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
      addExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
      addExtension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
      addSubjectAltNames(cert.get(), sans);
      break;
    case CertKind::Client:
      addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
      addExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
      addExtension(cert.get(), &ctx, NID_ext_key_usage, "clientAuth");
      break;
  }
  if (X509_sign(cert.get(), signer_key, EVP_sha256()) == 0) failSsl("cannot sign a certificate");
  return cert;
}

bool validLongEnough(X509* cert) {
  time_t soon = std::time(nullptr) + kRenewBeforeDays * 24 * 3600;
  return X509_cmp_time(X509_get0_notAfter(cert), &soon) > 0 &&
         X509_cmp_time(X509_get0_notBefore(cert), nullptr) < 0;
}

// A leaf is reused when it is ours (signed by this CA, its key matches), lasts, and has the
// purpose it is for.
bool leafValid(X509* cert, EVP_PKEY* key, X509* ca, EVP_PKEY* ca_key, int purpose) {
  if (!cert || !key) return false;
  bool ok = X509_verify(cert, ca_key) == 1 && X509_check_private_key(cert, key) == 1 &&
            X509_check_issued(ca, cert) == X509_V_OK && validLongEnough(cert) &&
            X509_check_purpose(cert, purpose, 0) == 1;
  ERR_clear_error();
  return ok;
}

bool coversNames(X509* cert, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    int r = isIpLiteral(name) ? X509_check_ip_asc(cert, name.c_str(), 0)
                              : X509_check_host(cert, name.c_str(), name.size(), 0, nullptr);
    if (r != 1) return false;
  }
  return true;
}

// Holds an exclusive flock on dir/.lock: two daemons (or a daemon and `berth status`) never
// write the same directory at once.
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    std::string path = dir + "/.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd_ < 0) failErrno("cannot open " + path);
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) failErrno("cannot lock " + path);
    }
  }
  ~DirLock() { ::close(fd_); }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

TlsMaterial::Files TlsMaterial::layout(const std::string& dir) {
  Files f;
  f.dir = dir;
  f.ca_cert = dir + "/ca.pem";
  f.ca_key = dir + "/ca-key.pem";
  f.server_cert = dir + "/server-cert.pem";
  f.server_key = dir + "/server-key.pem";
  f.client_dir = dir + "/client";
  f.client_ca = f.client_dir + "/ca.pem";
  f.client_cert = f.client_dir + "/cert.pem";
  f.client_key = f.client_dir + "/key.pem";
  return f;
}

TlsMaterial::Files TlsMaterial::ensure(const std::string& dir,
                                       const std::vector<std::string>& server_names) {
  if (server_names.empty()) {
    throw std::runtime_error("a server certificate needs at least one name or IP address");
  }
  for (const auto& name : server_names) {
    if (!isIpLiteral(name) && !isDnsName(name)) {
      throw std::runtime_error("'" + name + "' is neither an IP address nor a DNS name");
    }
  }
  Files f = layout(dir);
  ensurePrivateDir(f.dir);
  ensurePrivateDir(f.client_dir);
  DirLock lock(f.dir);

  CertPtr ca = readCert(f.ca_cert);
  KeyPtr ca_key = readKey(f.ca_key);
  bool ca_ok = ca && ca_key && X509_check_private_key(ca.get(), ca_key.get()) == 1 &&
               X509_check_ca(ca.get()) >= 1 && validLongEnough(ca.get());
  ERR_clear_error();
  if (!ca_ok) {
    ca_key = generateKey();
    ca = issue(CertKind::Ca, ca_key.get(), "berth CA", nullptr, nullptr, {});
    net::Files::writeAtomic(f.ca_key, toPem(ca_key.get()), 0600);
    net::Files::writeAtomic(f.ca_cert, toPem(ca.get()), 0644);
  }

  CertPtr server = readCert(f.server_cert);
  KeyPtr server_key = readKey(f.server_key);
  if (!leafValid(server.get(), server_key.get(), ca.get(), ca_key.get(), X509_PURPOSE_SSL_SERVER) ||
      !coversNames(server.get(), server_names)) {
    server_key = generateKey();
    server = issue(CertKind::Server, server_key.get(), "berth server", ca.get(), ca_key.get(),
                   server_names);
    net::Files::writeAtomic(f.server_key, toPem(server_key.get()), 0600);
    net::Files::writeAtomic(f.server_cert, toPem(server.get()), 0644);
  }

  CertPtr client = readCert(f.client_cert);
  KeyPtr client_key = readKey(f.client_key);
  if (!leafValid(client.get(), client_key.get(), ca.get(), ca_key.get(), X509_PURPOSE_SSL_CLIENT)) {
    client_key = generateKey();
    client = issue(CertKind::Client, client_key.get(), "berth client", ca.get(), ca_key.get(), {});
    net::Files::writeAtomic(f.client_key, toPem(client_key.get()), 0600);
    net::Files::writeAtomic(f.client_cert, toPem(client.get()), 0644);
  }
  std::string ca_pem = toPem(ca.get());
  if (net::Files::readOr(f.client_ca) != ca_pem) {
    net::Files::writeAtomic(f.client_ca, ca_pem, 0644);
  }

  // Files that were reused keep their content, but never a loose mode.
  for (const auto* key_path : {&f.ca_key, &f.server_key, &f.client_key}) {
    if (::chmod(key_path->c_str(), 0600) != 0) failErrno("cannot chmod 0600 " + *key_path);
  }
  return f;
}

}  // namespace berth::vm
