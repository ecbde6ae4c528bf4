#pragma once
// Filter: one request's rewrite step on the relay path (Envoy's idea, cut down). A factory,
// built once from validated config, makes a fresh Filter per request when the route concerns
// it. Phases run in order: head, then (only if asked for) the whole JSON request body, then
// (only if asked for) the whole response body. Any phase may answer locally instead of the
// engine. Filters do no I/O. A Filter is used by one request on one strand: no locking.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/Route.h"

namespace berth::api {

// An answer made by berth itself: `status` + Docker-shaped `{"message": ...}` body.
struct LocalReply {
  int status = 500;
  std::string message;
};

struct RequestHead {
  std::string_view method;
  std::string_view target;  // as sent, with any /vX.Y prefix and query
  const Route& route;
};

class Filter {
 public:
  virtual ~Filter() = default;
  virtual std::optional<LocalReply> onRequestHead(const RequestHead& head) = 0;
  virtual bool wantsRequestBody() const = 0;
  // `body` is the complete request body; the filter may rewrite it in place.
  virtual std::optional<LocalReply> onRequestBody(std::string& body) = 0;
  virtual bool wantsResponseBody(int status) const = 0;
  // `body` is the complete response body; the filter may rewrite it in place.
  virtual void onResponseBody(int status, std::string& body) = 0;
};

// The pass-through base: override only the phases a filter needs.
class PassThroughFilter : public Filter {
 public:
  std::optional<LocalReply> onRequestHead(const RequestHead&) override { return std::nullopt; }
  bool wantsRequestBody() const override { return false; }
  std::optional<LocalReply> onRequestBody(std::string&) override { return std::nullopt; }
  bool wantsResponseBody(int) const override { return false; }
  void onResponseBody(int, std::string&) override {}
};

class FilterFactory {
 public:
  virtual ~FilterFactory() = default;
  // A new filter for this request, or null when the route does not concern this filter.
  virtual std::unique_ptr<Filter> create(const RequestHead& head) const = 0;
};

}  // namespace berth::api
