#include "server/PlainReplyHead.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace berth::server {
namespace {

// RFC 7230 tchar: what a field name may hold (as Beast's is_token).
constexpr std::array<bool, 256> kToken = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

// What a field value or a reason phrase may hold up to its CRLF (as Beast's
// parse_token_to_eol): no control character but HTAB, no DEL; obs-text is allowed.
constexpr std::array<bool, 256> kText = [] {
  std::array<bool, 256> table{};
  for (int c = 0x20; c < 256; ++c) table[c] = c != 0x7f;
  table['\t'] = true;
  return table;
}();

// True if [p, e) holds only what a field value or a reason phrase may hold (kText). Eight
// bytes at a time: a word with no byte below 0x20 and none equal to 0x7f is all text; a word
// with a tab (allowed) or a control (refused) is judged byte by byte.
bool isText(const char* p, const char* e) {
  constexpr std::uint64_t kOnes = 0x0101010101010101;
  constexpr std::uint64_t kHighs = 0x8080808080808080;
  while (e - p >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    const std::uint64_t below_space = (word - kOnes * 0x20) & ~word & kHighs;
    const std::uint64_t del = word ^ (kOnes * 0x7f);
    if (below_space | ((del - kOnes) & ~del & kHighs)) break;
    p += 8;
  }
  for (; p < e; ++p) {
    if (!kText[static_cast<unsigned char>(*p)]) return false;
  }
  return true;
}

bool namedAs(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

std::optional<std::uint64_t> decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// The end of the line that starts at `p`: its CR, which must be followed by LF; nullptr if
// the line does not end before `end` in CRLF.
const char* lineEnd(const char* p, const char* end) {
  const auto* cr =
      static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p)));
  return cr && end - cr >= 2 && cr[1] == '\n' ? cr : nullptr;
}

}  // namespace

std::optional<PlainReplyHead> PlainReplyHead::scan(std::string_view bytes,
                                                   std::size_t header_limit) {
  // A head longer than the limit never ends in range.
  const char* p = bytes.data();
  const char* const end = p + std::min(bytes.size(), header_limit);

  // "HTTP/1.1 SSS reason"; 1xx, 204 and 304 carry no body whatever their fields say.
  if (end - p < 13 || std::string_view(p, 9) != "HTTP/1.1 " || p[12] != ' ') return std::nullopt;
  PlainReplyHead head;
  for (int i = 9; i < 12; ++i) {
    if (p[i] < '0' || p[i] > '9') return std::nullopt;
    head.status = head.status * 10 + (p[i] - '0');
  }
  if (head.status < 200 || head.status > 599 || head.status == 204 || head.status == 304) {
    return std::nullopt;
  }
  const char* eol = lineEnd(p + 13, end);
  if (!eol || !isText(p + 13, eol)) return std::nullopt;
  p = eol + 2;

  bool has_length = false;
  for (;;) {
    eol = lineEnd(p, end);
    if (!eol) return std::nullopt;
    if (eol == p) break;  // the blank line
    const char* const name_at = p;
    while (p < eol && kToken[static_cast<unsigned char>(*p)]) ++p;
    // An empty name, a space before the colon, an obs-fold line: Beast's to judge.
    if (p == name_at || p == eol || *p != ':') return std::nullopt;
    const std::string_view name(name_at, static_cast<std::size_t>(p - name_at));
    for (++p; p < eol && (*p == ' ' || *p == '\t');) ++p;
    if (!isText(p, eol)) return std::nullopt;
    const char* value_end = eol;
    while (value_end > p && (value_end[-1] == ' ' || value_end[-1] == '\t')) --value_end;
    const std::string_view value(p, static_cast<std::size_t>(value_end - p));
    p = eol + 2;
    if (namedAs(name, "content-length")) {
      auto length = decimal(value);
      if (!length || has_length) return std::nullopt;  // a list or a repeat: Beast's to judge
      has_length = true;
      head.content_length = *length;
    } else if (namedAs(name, "connection") || namedAs(name, "proxy-connection") ||
               namedAs(name, "transfer-encoding") || namedAs(name, "upgrade")) {
      return std::nullopt;  // framing or keep-alive other than the plain kind
    }
  }
  if (!has_length) return std::nullopt;
  head.head_bytes = static_cast<std::size_t>(p + 2 - bytes.data());
  return head;
}

}  // namespace berth::server
