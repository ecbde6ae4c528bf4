// Fuzz target: the mounts filter (api/MountFilter*, MountTranslator) on arbitrary JSON bodies
// and paths, with the unit tests' shares and fake symlinks. Input: first byte picks the route
// (create / volume create / inspect / list / volume list) and whether the rest is a request
// body, a response body or a host path.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/MountFilterFactory.h"
#include "api/Route.h"
#include "tests/api/MountTestFs.h"

namespace {

struct Case {
  const char* method;
  const char* target;
};
constexpr Case kCases[] = {
    {"POST", "/v1.41/containers/create?name=x"},
    {"POST", "/v1.41/volumes/create"},
    {"GET", "/v1.41/containers/abc/json"},
    {"GET", "/v1.41/containers/json?all=1"},
    {"GET", "/v1.41/volumes"},
    {"GET", "/v1.41/volumes/v1"},
};

bool underAShare(const std::string& guest) {
  for (const auto& share : berth::api::testing::testShares()) {
    const std::string& mp = share.mount_point;
    if (guest.rfind(mp, 0) == 0 &&
        (guest.size() == mp.size() || guest[mp.size()] == '/' || mp == "/")) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace berth::api;
  if (size == 0) return 0;
  static const auto kTranslator = testing::testTranslator();
  static const MountFilterFactory kFactory(kTranslator);
  const Case& c = kCases[(data[0] & 0x0f) % (sizeof kCases / sizeof kCases[0])];
  const int mode = data[0] >> 4;
  std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);

  if (mode >= 12) {
    // A host path straight into the translator: a success must land inside a share.
    GuestPath guest = kTranslator->toGuest(input, (mode & 1) != 0);
    if (guest.ok() && !underAShare(guest.path)) std::abort();
    (void)kTranslator->toHost(input);
    return 0;
  }
  Route route = RouteMatcher::match(c.method, c.target);
  RequestHead head{c.method, c.target, route};
  auto filter = kFactory.create(head);
  if (!filter) return 0;
  if (filter->onRequestHead(head)) return 0;
  if (mode < 6) {
    if (filter->wantsRequestBody()) (void)filter->onRequestBody(input);
  } else {
    int status = mode == 11 ? 404 : 200;
    if (filter->wantsResponseBody(status)) filter->onResponseBody(status, input);
  }
  return 0;
}
