#pragma once
// DashboardAssets: the dashboard's page (HTML, CSS, JS from server/dashboard/assets/), compiled
// into the binary by EmbedAssets.cmake so it works offline and nothing is fetched at run time.
// Read-only static data; thread-safe.
#include <span>
#include <string_view>

namespace berth::server {

struct DashboardAsset {
  std::string_view path;          // "/index.html", "/app.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;
};

class DashboardAssets {
 public:
  // Every embedded file (generated at build time).
  static std::span<const DashboardAsset> all();
  // The asset served at `path` ("/" is /index.html), or null.
  static const DashboardAsset* find(std::string_view path);
};

}  // namespace berth::server
