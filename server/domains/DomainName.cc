#include "server/domains/DomainName.h"

#include <cctype>

namespace berth::server {

std::optional<DomainName> DomainName::parse(std::string_view host) {
  // "[::1]:80" and other literals never end in the suffix; strip ":PORT" only after a name.
  if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  std::string lower;
  lower.reserve(host.size());
  for (const char c : host) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.size() <= kSuffix.size() ||
      lower.compare(lower.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return std::nullopt;
  }
  lower.resize(lower.size() - kSuffix.size());  // "web.shop.default"
  DomainName out;
  const auto dot = lower.rfind('.');
  if (dot == std::string::npos) {
    out.profile = lower;
  } else {
    out.profile = lower.substr(dot + 1);
    out.name = lower.substr(0, dot);
  }
  if (out.profile.empty()) return std::nullopt;
  return out;
}

std::string DomainName::hostFor(const std::string& name, const std::string& profile) {
  return (name.empty() ? "" : name + ".") + profile + std::string(kSuffix);
}

}  // namespace berth::server
