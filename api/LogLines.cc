#include "api/LogLines.h"

#include <algorithm>

namespace berth::api {
namespace {

constexpr std::size_t kMaxLine = std::size_t{64} * 1024;

}  // namespace

bool LogLines::hasTty(const nlohmann::json& inspect) {
  const auto config = inspect.find("Config");
  if (config == inspect.end() || !config->is_object()) return false;
  const auto tty = config->find("Tty");
  return tty != config->end() && tty->is_boolean() && tty->get<bool>();
}

void LogLines::payload(Source source, std::string_view bytes, const LineHandler& on_line) {
  std::string& partial = partial_[source == Source::Stdout ? 0 : 1];
  while (!bytes.empty()) {
    const auto newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      partial.append(bytes);
      if (partial.size() >= kMaxLine) {
        on_line(source, partial);
        partial.clear();
      }
      return;
    }
    std::string_view line = bytes.substr(0, newline);
    bytes.remove_prefix(newline + 1);
    if (!partial.empty()) {
      partial.append(line);
      line = partial;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    on_line(source, line);
    partial.clear();
  }
}

void LogLines::feed(std::string_view bytes, const LineHandler& on_line) {
  if (tty_) {
    payload(Source::Stdout, bytes, on_line);
    return;
  }
  while (!bytes.empty()) {
    if (frame_left_ == 0) {
      const std::size_t need = 8 - header_.size();
      header_.append(bytes.substr(0, need));
      bytes.remove_prefix(std::min(need, bytes.size()));
      if (header_.size() < 8) return;
      frame_source_ = header_[0] == 2 ? Source::Stderr : Source::Stdout;
      frame_left_ = (std::uint32_t(std::uint8_t(header_[4])) << 24) |
                    (std::uint32_t(std::uint8_t(header_[5])) << 16) |
                    (std::uint32_t(std::uint8_t(header_[6])) << 8) | std::uint8_t(header_[7]);
      header_.clear();
      continue;
    }
    const std::size_t take = std::min<std::size_t>(frame_left_, bytes.size());
    payload(frame_source_, bytes.substr(0, take), on_line);
    frame_left_ -= static_cast<std::uint32_t>(take);
    bytes.remove_prefix(take);
  }
}

void LogLines::finish(const LineHandler& on_line) {
  for (int i = 0; i < 2; ++i) {
    if (partial_[i].empty()) continue;
    on_line(i == 0 ? Source::Stdout : Source::Stderr, partial_[i]);
    partial_[i].clear();
  }
}

}  // namespace berth::api
