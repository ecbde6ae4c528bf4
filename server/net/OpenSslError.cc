#include "server/net/OpenSslError.h"

#include <openssl/err.h>

namespace berth::net {

std::string takeOpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace berth::net
