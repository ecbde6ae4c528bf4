#include "server/dashboard/DashboardAssets.h"

namespace berth::server {

const DashboardAsset* DashboardAssets::find(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const auto& asset : all())
    if (asset.path == path) return &asset;
  return nullptr;
}

}  // namespace berth::server
