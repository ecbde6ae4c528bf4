#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "server/dashboard/DashboardAssets.h"

namespace berth::server {
namespace {

const std::filesystem::path kAssetsDir = BERTH_DASHBOARD_ASSETS_DIR;

std::string fileText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The binary serves byte for byte what the source folder holds, every file of it.
TEST(DashboardAssetsTest, EveryFileIsEmbeddedByteForByte) {
  ASSERT_TRUE(std::filesystem::is_directory(kAssetsDir)) << kAssetsDir;
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kAssetsDir)) {
    ++files;
    const auto* asset = DashboardAssets::find("/" + entry.path().filename().string());
    ASSERT_NE(asset, nullptr) << entry.path();
    EXPECT_EQ(asset->body, fileText(entry.path())) << entry.path();
  }
  EXPECT_EQ(DashboardAssets::all().size(), files);
  EXPECT_GE(files, 3u);
}

TEST(DashboardAssetsTest, TheRootIsThePageAndTypesFollowTheExtension) {
  const auto* page = DashboardAssets::find("/");
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->path, "/index.html");
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(DashboardAssets::find("/app.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(DashboardAssets::find("/app.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(DashboardAssets::find("/nope.js"), nullptr);
  EXPECT_EQ(DashboardAssets::find("/../CMakeLists.txt"), nullptr);
}

// The CSP (default-src 'self') would block inline script and remote assets: none are used.
TEST(DashboardAssetsTest, ThePageUsesNoInlineScriptAndNothingRemote) {
  const std::string page(DashboardAssets::find("/")->body);
  const std::regex script("<script([^>]*)>");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), script);
       it != std::sregex_iterator(); ++it) {
    EXPECT_NE((*it)[1].str().find("src=\"/"), std::string::npos) << (*it)[0];
  }
  EXPECT_EQ(page.find(" on"), std::string::npos);  // no onclick= handlers
  for (const auto& asset : DashboardAssets::all()) {
    const std::string body(asset.body);
    EXPECT_EQ(body.find("https://"), std::string::npos) << asset.path;
    EXPECT_EQ(body.find("//cdn"), std::string::npos) << asset.path;
  }
}

}  // namespace
}  // namespace berth::server
