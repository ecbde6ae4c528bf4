#pragma once
// ChunkedFraming: follows the framing of an HTTP/1.1 chunked body (RFC 9112 7.1) as its bytes
// go by, so that the relay can pass a chunked reply on exactly as the engine wrote it and still
// know where it ends (the next reply on a kept-alive connection starts there). It reads only
// the chunk-size lines, the CRLF after each chunk's data and the trailer; the data itself is
// counted, never looked at. It accepts what Beast's parser accepts, no more (the unit test and
// the fuzz target ChunkedFramingFuzz compare them): hex sizes below 2^64, CRLF line ends, the
// extension grammar, trailer fields with obs-fold; bounded size lines and trailer. So it never
// ends a message where the client's parser would not. One message per object; not thread-safe.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace berth::server {

class ChunkedFraming {
 public:
  static constexpr std::size_t kMaxLine = 4096;     // a chunk-size line with its extensions
  static constexpr std::size_t kMaxTrailer = 8192;  // all trailer fields together

  // The number of bytes at the front of `bytes` that belong to the body (all of them unless
  // the body ends inside `bytes`). Stops at the first framing error (failed() then says what).
  std::size_t take(std::string_view bytes);

  bool done() const { return state_ == State::Done; }
  // Why the framing is broken; nullptr while it is not.
  const char* failed() const { return error_; }

 private:
  enum class State {
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
    Failed
  };
  // Where in `*(BWS ";" BWS name [BWS "=" BWS (token / quoted-string)])` a size line is.
  enum class Ext {
    BeforeSemi,
    AfterSemi,
    Name,
    AfterName,
    AfterEq,
    Value,
    Quoted,
    QuotedPair,
    Closed
  };
  bool extension(char c);  // false: not the grammar
  std::size_t fail(const char* why, std::size_t taken);

  State state_ = State::Size;
  Ext ext_ = Ext::BeforeSemi;
  std::uint64_t left_ = 0;        // of the current chunk's data (State::Data); its size while read
  int digits_ = 0;                // of the size being read
  std::size_t line_ = 0;          // bytes of the current size line
  std::size_t trailer_ = 0;       // bytes of trailer so far
  std::size_t trailer_name_ = 0;  // bytes of the current trailer field's name
  const char* error_ = nullptr;
};

}  // namespace berth::server
