// Fuzz target: api::RouteMatcher on arbitrary methods and targets (every request's first
// step). Input: first byte = method length, then the method, then the target.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/Route.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t method_len = std::min<std::size_t>(data[0] % 16, size - 1);
  std::string_view method(reinterpret_cast<const char*>(data) + 1, method_len);
  std::string_view target(reinterpret_cast<const char*>(data) + 1 + method_len,
                          size - 1 - method_len);
  berth::api::Route route = berth::api::RouteMatcher::match(method, target);
  (void)route.mayHijack();
  (void)berth::api::routeKindName(route.kind);
  // What the relay logs and filters rely on: the path has no query, the version only digits
  // and dots.
  if (route.path.find('?') != std::string::npos) std::abort();
  for (char c : route.version) {
    if (!((c >= '0' && c <= '9') || c == '.')) std::abort();
  }
  return 0;
}
