#pragma once
// DomainHead: the first request head a client sends the names front, as far as the front needs
// it: parse() over every byte read so far says whether the head is complete (then the Host it
// names), incomplete (read more), or bad (why, for the 400 page): not HTTP, longer than
// kMaxHead, or without a Host. Bodies and later requests are never looked at (they are relayed
// as bytes). Pure code (Beast's parser); thread-safe.
#include <cstddef>
#include <string>
#include <string_view>

namespace berth::server {

struct DomainHead {
  static constexpr std::size_t kMaxHead = std::size_t{64} << 10;

  enum class State { NeedMore, Done, Bad };
  State state = State::NeedMore;
  std::string host;  // when Done: the Host header as sent (never empty)
  std::string why;   // when Bad: one sentence for the page

  static DomainHead parse(std::string_view bytes);
};

}  // namespace berth::server
