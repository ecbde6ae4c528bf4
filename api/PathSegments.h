#pragma once
// pathSegments: the non-empty `/`-separated segments of a path ("//a/./b/" -> {"a", ".", "b"});
// duplicate, leading and trailing slashes vanish, `.` and `..` are kept for the caller to
// judge. The views point into `path`. Pure and thread-safe.
#include <string_view>
#include <vector>

namespace berth::api {

std::vector<std::string_view> pathSegments(std::string_view path);

}  // namespace berth::api
