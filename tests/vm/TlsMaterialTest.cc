#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "vm/TlsMaterial.h"

namespace berth::vm {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

mode_t modeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

X509* loadCert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return nullptr;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return cert;
}

// Verifies `leaf` against `ca` as OpenSSL's TLS code would, for `purpose`.
int verify(const std::string& ca_path, const std::string& leaf_path, int purpose) {
  X509* ca = loadCert(ca_path);
  X509* leaf = loadCert(leaf_path);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  int ok = X509_verify_cert(ctx);
  int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(ca);
  X509_free(leaf);
  return err;
}

class TlsMaterialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/b-sec-tlsm-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/tls";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string root_;
  std::string dir_;
};

TEST_F(TlsMaterialTest, CreatesCaServerAndClientWithPrivateModes) {
  auto f = TlsMaterial::ensure(dir_, {"127.0.0.1", "::1", "localhost"});
  EXPECT_EQ(f.client_dir, dir_ + "/client");
  EXPECT_EQ(f.client_ca, dir_ + "/client/ca.pem");
  EXPECT_EQ(f.client_cert, dir_ + "/client/cert.pem");
  EXPECT_EQ(f.client_key, dir_ + "/client/key.pem");
  EXPECT_EQ(modeOf(f.dir), 0700u);
  EXPECT_EQ(modeOf(f.client_dir), 0700u);
  EXPECT_EQ(modeOf(f.ca_key), 0600u);
  EXPECT_EQ(modeOf(f.server_key), 0600u);
  EXPECT_EQ(modeOf(f.client_key), 0600u);
  EXPECT_EQ(slurp(f.client_ca), slurp(f.ca_cert));

  EXPECT_EQ(verify(f.ca_cert, f.server_cert, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(verify(f.ca_cert, f.client_cert, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  // Each certificate is good for its own role only.
  EXPECT_NE(verify(f.ca_cert, f.client_cert, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_NE(verify(f.ca_cert, f.server_cert, X509_PURPOSE_SSL_CLIENT), X509_V_OK);

  X509* server = loadCert(f.server_cert);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(X509_check_ip_asc(server, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(server, "::1", 0), 1);
  EXPECT_EQ(X509_check_host(server, "localhost", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_ip_asc(server, "10.0.0.1", 0), 1);
  EXPECT_NE(X509_check_host(server, "example.com", 0, 0, nullptr), 1);
  X509_free(server);
}

TEST_F(TlsMaterialTest, ReusesValidMaterial) {
  auto f = TlsMaterial::ensure(dir_, {"127.0.0.1"});
  std::string ca = slurp(f.ca_cert), server = slurp(f.server_cert), client = slurp(f.client_cert);
  TlsMaterial::ensure(dir_, {"127.0.0.1"});
  EXPECT_EQ(slurp(f.ca_cert), ca);
  EXPECT_EQ(slurp(f.server_cert), server);
  EXPECT_EQ(slurp(f.client_cert), client);
}

TEST_F(TlsMaterialTest, NewServerNameReissuesOnlyTheServerCertificate) {
  auto f = TlsMaterial::ensure(dir_, {"127.0.0.1"});
  std::string ca = slurp(f.ca_cert), server = slurp(f.server_cert), client = slurp(f.client_cert);
  TlsMaterial::ensure(dir_, {"127.0.0.1", "10.0.2.15", "berth.local"});
  EXPECT_EQ(slurp(f.ca_cert), ca);
  EXPECT_EQ(slurp(f.client_cert), client);  // the docker CLI's files stay valid
  EXPECT_NE(slurp(f.server_cert), server);
  X509* cert = loadCert(f.server_cert);
  EXPECT_EQ(X509_check_ip_asc(cert, "10.0.2.15", 0), 1);
  EXPECT_EQ(X509_check_host(cert, "berth.local", 0, 0, nullptr), 1);
  X509_free(cert);
  EXPECT_EQ(verify(f.ca_cert, f.server_cert, X509_PURPOSE_SSL_SERVER), X509_V_OK);
}

TEST_F(TlsMaterialTest, BrokenCaReissuesEverything) {
  auto f = TlsMaterial::ensure(dir_, {"127.0.0.1"});
  std::string ca = slurp(f.ca_cert), client = slurp(f.client_cert);
  std::ofstream(f.ca_key, std::ios::trunc) << "not a key\n";
  TlsMaterial::ensure(dir_, {"127.0.0.1"});
  EXPECT_NE(slurp(f.ca_cert), ca);
  EXPECT_NE(slurp(f.client_cert), client);
  EXPECT_EQ(slurp(f.client_ca), slurp(f.ca_cert));
  EXPECT_EQ(verify(f.ca_cert, f.server_cert, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(verify(f.ca_cert, f.client_cert, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(TlsMaterialTest, ForeignLeafIsReplaced) {
  auto f = TlsMaterial::ensure(dir_, {"127.0.0.1"});
  auto other = TlsMaterial::ensure(root_ + "/other", {"127.0.0.1"});
  // A client certificate of another CA put in place is not ours: it gets reissued.
  std::filesystem::copy_file(other.client_cert, f.client_cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(other.client_key, f.client_key,
                             std::filesystem::copy_options::overwrite_existing);
  TlsMaterial::ensure(dir_, {"127.0.0.1"});
  EXPECT_EQ(verify(f.ca_cert, f.client_cert, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_NE(slurp(f.client_cert), slurp(other.client_cert));
}

TEST_F(TlsMaterialTest, LooseModesAreTightened) {
  auto f = TlsMaterial::ensure(dir_, {"127.0.0.1"});
  ::chmod(f.dir.c_str(), 0755);
  ::chmod(f.client_key.c_str(), 0644);
  TlsMaterial::ensure(dir_, {"127.0.0.1"});
  EXPECT_EQ(modeOf(f.dir), 0700u);
  EXPECT_EQ(modeOf(f.client_key), 0600u);
}

TEST_F(TlsMaterialTest, RefusesBadNames) {
  EXPECT_THROW(TlsMaterial::ensure(dir_, {}), std::runtime_error);
  EXPECT_THROW(TlsMaterial::ensure(dir_, {"a,DNS:evil.com"}), std::runtime_error);
  EXPECT_THROW(TlsMaterial::ensure(dir_, {"bad name"}), std::runtime_error);
}

}  // namespace
}  // namespace berth::vm
