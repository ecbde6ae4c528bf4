#pragma once
// TempDir: a fresh directory under /tmp (mkdtemp) for one test, removed with everything in it
// when the TempDir goes. Throws std::runtime_error when it cannot be made.
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace berth::test_support {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace berth::test_support
