#pragma once
// FilterChain: the filters that apply to one request, run in registration order.
// FilterChainFactory: the named factories, built once at daemon start; adding a filter means
// registering a factory under a new name, no central switch. The factory is immutable after
// setup and safe to share across threads; a chain belongs to one request.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/Filter.h"

namespace berth::api {

class FilterChain {
 public:
  explicit FilterChain(std::vector<std::unique_ptr<Filter>> filters)
      : filters_(std::move(filters)) {}

  bool empty() const { return filters_.empty(); }
  std::optional<LocalReply> onRequestHead(const RequestHead& head);
  bool wantsRequestBody() const;
  std::optional<LocalReply> onRequestBody(std::string& body);
  bool wantsResponseBody(int status) const;
  void onResponseBody(int status, std::string& body);

 private:
  std::vector<std::unique_ptr<Filter>> filters_;
};

class FilterChainFactory {
 public:
  // Registers `factory` under `name`; a second registration of a name replaces the first.
  void add(std::string name, std::shared_ptr<const FilterFactory> factory);
  FilterChain create(const RequestHead& head) const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::pair<std::string, std::shared_ptr<const FilterFactory>>> factories_;
};

}  // namespace berth::api
