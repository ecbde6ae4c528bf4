#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "vm/Driver.h"
#include "vm/GuestImage.h"
#include "vm/ProfileConfig.h"

namespace berth::vm {
namespace {

namespace fs = std::filesystem;

class GuestImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/b-qemu-imgtXXXXXX";
    dir_ = mkdtemp(tmpl);
    const char* old = std::getenv("BERTH_IMAGE_CACHE");
    saved_ = old ? old : "";
    had_ = old != nullptr;
    setenv("BERTH_IMAGE_CACHE", dir_.c_str(), 1);
  }
  void TearDown() override {
    if (had_)
      setenv("BERTH_IMAGE_CACHE", saved_.c_str(), 1);
    else
      unsetenv("BERTH_IMAGE_CACHE");
    fs::remove_all(dir_);
  }
  // An image folder as build-image.sh leaves it; `complete` false leaves out the kernel.
  fs::path makeImage(const std::string& name, bool complete, fs::file_time_type when) {
    fs::path d = fs::path(dir_) / name;
    fs::create_directories(d);
    for (const char* file : {"disk.qcow2", "initrd.img"}) std::ofstream(d / file) << "x";
    if (complete) std::ofstream(d / "vmlinuz") << "x";
    std::ofstream(d / "recipe.sha256") << name << "\n";
    fs::last_write_time(d / "recipe.sha256", when);
    return d;
  }
  std::string dir_, saved_;
  bool had_ = false;
};

TEST_F(GuestImageTest, NoImageNamesTheBuildCommand) {
  try {
    GuestImage::find("");
    FAIL() << "expected a DriverError";
  } catch (const DriverError& e) {
    EXPECT_NE(std::string(e.what()).find("berth image build"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(dir_), std::string::npos);
  }
}

// A berth run from its build folder finds the source tree's recipe; the env var names another.
TEST_F(GuestImageTest, TheRecipeIsFoundBesideBerthOrNamed) {
  ::unsetenv("BERTH_GUEST_RECIPE");
  const std::string found = GuestImage::recipeScript();
  EXPECT_TRUE(found.ends_with("/contrib/guest/build-image.sh")) << found;
  ::setenv("BERTH_GUEST_RECIPE", "/elsewhere/recipe.sh", 1);
  EXPECT_EQ(GuestImage::recipeScript(), "/elsewhere/recipe.sh");
  ::unsetenv("BERTH_GUEST_RECIPE");
}

TEST_F(GuestImageTest, TheNewestCompleteBuildWins) {
  const auto now = fs::file_time_type::clock::now();
  makeImage("old", true, now - std::chrono::hours(2));
  makeImage("new", true, now - std::chrono::hours(1));
  makeImage("newest-but-incomplete", false, now);
  GuestImage image = GuestImage::find("");
  EXPECT_EQ(image.dir, dir_ + "/new");
  EXPECT_EQ(image.disk, dir_ + "/new/disk.qcow2");
  EXPECT_EQ(image.kernel, dir_ + "/new/vmlinuz");
  EXPECT_EQ(image.recipe, "new");
}

TEST_F(GuestImageTest, AnExplicitFolderOrItsDiskIsUsed) {
  auto d = makeImage("mine", true, fs::file_time_type::clock::now());
  EXPECT_EQ(GuestImage::find(d.string()).dir, d.string());
  EXPECT_EQ(GuestImage::find((d / "disk.qcow2").string()).dir, d.string());
  auto broken = makeImage("broken", false, fs::file_time_type::clock::now());
  EXPECT_THROW(GuestImage::find(broken.string()), DriverError);
}

// The one resolution the CLI and the driver share: BERTH_GUEST_IMAGE, else diskImage, else ""
// (the newest build).
TEST_F(GuestImageTest, TheFolderIsTheEnvThenDiskImageThenTheNewestBuild) {
  ::unsetenv("BERTH_GUEST_IMAGE");
  ProfileConfig config;
  EXPECT_EQ(GuestImage::folderFor(config), "");
  config.disk_image = "/images/mine";
  EXPECT_EQ(GuestImage::folderFor(config), "/images/mine");
  ::setenv("BERTH_GUEST_IMAGE", "/images/from-env", 1);
  EXPECT_EQ(GuestImage::folderFor(config), "/images/from-env");
  ::unsetenv("BERTH_GUEST_IMAGE");
  EXPECT_EQ(GuestImage::folderFor(config), "/images/mine");
}

// image.url gives the folder its download lands in, named by the archive's sha256, unless the
// env or diskImage names one (then the URL is not in force).
TEST_F(GuestImageTest, ImageUrlResolvesToItsDownloadFolderUnlessAFolderIsNamed) {
  ::unsetenv("BERTH_GUEST_IMAGE");
  ProfileConfig config;
  config.image = {"https://m.example/g.tar", std::string(64, 'c')};
  EXPECT_TRUE(GuestImage::fromUrl(config));
  EXPECT_EQ(GuestImage::folderFor(config), dir_ + "/sha256-" + std::string(64, 'c'));
  try {  // not downloaded yet (a daemon started by socket activation): says how to get it
    GuestImage::find(GuestImage::folderFor(config));
    FAIL() << "expected a DriverError";
  } catch (const DriverError& e) {
    EXPECT_NE(std::string(e.what()).find("berth image pull"), std::string::npos) << e.what();
  }
  config.disk_image = "/images/mine";
  EXPECT_FALSE(GuestImage::fromUrl(config));
  EXPECT_EQ(GuestImage::folderFor(config), "/images/mine");
  config.disk_image.clear();
  ::setenv("BERTH_GUEST_IMAGE", "/images/from-env", 1);
  EXPECT_FALSE(GuestImage::fromUrl(config));
  EXPECT_EQ(GuestImage::folderFor(config), "/images/from-env");
  ::unsetenv("BERTH_GUEST_IMAGE");
}

}  // namespace
}  // namespace berth::vm
