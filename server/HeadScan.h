#pragma once
// HeadScan: Beast's HTTP/1 parser for a message head that stores no field. It validates the
// head exactly as http::parser does (same basic_parser: limits, framing, errors) and keeps
// only what the relay decides on: the framing and keep-alive (basic_parser's own), the status,
// the method and where the target lies in the caller's buffer, the field count, and whether an
// Upgrade field came. A head relayed as its sender wrote it (a bodiless request, a reply with a
// bounded body) thus costs no allocation; a head that must be re-serialized is parsed again from
// the same bytes by the full parser (Session). put() must see the head's bytes at the front of
// one buffer that keeps them until the caller is done (offsets are taken from `setBase`).
// Stops at the end of the head (never eager); a body is never parsed. One message per object.
#include <boost/beast/http/basic_parser.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace berth::server {

template <bool isRequest>
class HeadScan final : public boost::beast::http::basic_parser<isRequest> {
  using Base = boost::beast::http::basic_parser<isRequest>;
  using ErrorCode = boost::beast::error_code;
  using Field = boost::beast::http::field;
  using Verb = boost::beast::http::verb;
  using StringView = boost::beast::string_view;

 public:
  HeadScan() {
    // The body streams through the relay: no length is too large for the head to pass.
    // (Not boost::none: Beast 1.74 compares `len > body_limit_`, which is true for none.)
    Base::body_limit(std::numeric_limits<std::uint64_t>::max());
  }

  // The start of the buffer whose bytes the next put() gets; the head starts there.
  void setBase(const char* base) { base_ = base; }

  int status() const { return status_; }
  Verb method() const { return method_; }
  std::string_view methodString(const char* base) const { return {base + method_at_, method_len_}; }
  std::string_view target(const char* base) const { return {base + target_at_, target_len_}; }
  std::size_t fieldCount() const { return fields_; }
  bool hasUpgrade() const { return upgrade_; }

 private:
  void on_request_impl(Verb method, StringView method_str, StringView target, int,
                       ErrorCode&) override {
    method_ = method;
    method_at_ = static_cast<std::size_t>(method_str.data() - base_);
    method_len_ = method_str.size();
    target_at_ = static_cast<std::size_t>(target.data() - base_);
    target_len_ = target.size();
  }
  void on_response_impl(int code, StringView, int, ErrorCode&) override { status_ = code; }
  void on_field_impl(Field name, StringView, StringView, ErrorCode&) override {
    ++fields_;
    if (name == Field::upgrade) upgrade_ = true;
  }
  void on_header_impl(ErrorCode&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, ErrorCode&) override {}
  std::size_t on_body_impl(StringView body, ErrorCode&) override { return body.size(); }
  void on_chunk_header_impl(std::uint64_t, StringView, ErrorCode&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, StringView body, ErrorCode&) override {
    return body.size();
  }
  void on_finish_impl(ErrorCode&) override {}

  const char* base_ = nullptr;
  int status_ = 0;
  Verb method_ = Verb::unknown;
  std::size_t method_at_ = 0;
  std::size_t method_len_ = 0;
  std::size_t target_at_ = 0;
  std::size_t target_len_ = 0;
  std::size_t fields_ = 0;
  bool upgrade_ = false;
};

}  // namespace berth::server
