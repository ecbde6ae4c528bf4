#pragma once
// Numbers: whole-string number parses for text from outside (labels, environment variables,
// /proc names, query parameters). The whole text must be the number: no sign, space or suffix
// ("80x", " 80" and "" are nullopt), and out of range is nullopt too, where std::atoi would
// answer 0 or a wrapped value. Pure, header-only.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace berth::api {

template <class Unsigned>
std::optional<Unsigned> parseWhole(std::string_view text, int base = 10) {
  static_assert(std::is_unsigned_v<Unsigned>, "a '-' is refused, so parse unsigned types");
  if (text.empty()) return std::nullopt;
  Unsigned value{};
  const char* first = &text.front();  // from_chars takes a range: no terminator is needed
  const char* last = first + text.size();
  const auto [stop, ec] = std::from_chars(first, last, value, base);
  if (ec != std::errc() || stop != last) return std::nullopt;
  return value;
}

// A TCP/UDP port number, 1..65535.
inline std::optional<std::uint16_t> parsePort(std::string_view text) {
  const auto value = parseWhole<unsigned>(text);
  if (!value || *value == 0 || *value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*value);
}

}  // namespace berth::api
