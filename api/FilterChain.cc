#include "api/FilterChain.h"

namespace berth::api {

std::optional<LocalReply> FilterChain::onRequestHead(const RequestHead& head) {
  for (auto& f : filters_) {
    if (auto reply = f->onRequestHead(head)) return reply;
  }
  return std::nullopt;
}

bool FilterChain::wantsRequestBody() const {
  for (const auto& f : filters_) {
    if (f->wantsRequestBody()) return true;
  }
  return false;
}

std::optional<LocalReply> FilterChain::onRequestBody(std::string& body) {
  for (auto& f : filters_) {
    if (!f->wantsRequestBody()) continue;
    if (auto reply = f->onRequestBody(body)) return reply;
  }
  return std::nullopt;
}

bool FilterChain::wantsResponseBody(int status) const {
  for (const auto& f : filters_) {
    if (f->wantsResponseBody(status)) return true;
  }
  return false;
}

void FilterChain::onResponseBody(int status, std::string& body) {
  // Responses unwind in reverse order, as a filter stack does.
  for (auto it = filters_.rbegin(); it != filters_.rend(); ++it) {
    if ((*it)->wantsResponseBody(status)) (*it)->onResponseBody(status, body);
  }
}

void FilterChainFactory::add(std::string name, std::shared_ptr<const FilterFactory> factory) {
  for (auto& [existing, f] : factories_) {
    if (existing == name) {
      f = std::move(factory);
      return;
    }
  }
  factories_.emplace_back(std::move(name), std::move(factory));
}

FilterChain FilterChainFactory::create(const RequestHead& head) const {
  std::vector<std::unique_ptr<Filter>> filters;
  for (const auto& [name, factory] : factories_) {
    if (auto f = factory->create(head)) filters.push_back(std::move(f));
  }
  return FilterChain(std::move(filters));
}

std::vector<std::string> FilterChainFactory::names() const {
  std::vector<std::string> out;
  out.reserve(factories_.size());
  for (const auto& [name, factory] : factories_) out.push_back(name);
  return out;
}

}  // namespace berth::api
