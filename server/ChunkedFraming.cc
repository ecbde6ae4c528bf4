#include "server/ChunkedFraming.h"

#include <algorithm>

namespace berth::server {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isTokenChar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isBlank(char c) { return c == ' ' || c == '\t'; }

// A quoted-string's qdtext and quoted-pair characters (RFC 9110 5.6.4).
bool isQuotedText(char c) {
  const auto u = static_cast<unsigned char>(c);
  return c == '\t' || c == ' ' || (u >= 0x21 && u != 0x7f);
}

}  // namespace

bool ChunkedFraming::extension(char c) {
  const bool blank = isBlank(c);
  switch (ext_) {
    case Ext::BeforeSemi:  // after the size or a value, blanks: only ';' may follow
      if (c == ';') ext_ = Ext::AfterSemi;
      return c == ';' || blank;
    case Ext::AfterSemi:
      if (isTokenChar(c)) ext_ = Ext::Name;
      return isTokenChar(c) || blank;
    case Ext::Name:
    case Ext::AfterName:
      if (ext_ == Ext::Name && isTokenChar(c)) return true;
      if (c == '=') {
        ext_ = Ext::AfterEq;
      } else if (c == ';') {
        ext_ = Ext::AfterSemi;
      } else if (blank) {
        ext_ = Ext::AfterName;
      } else {
        return false;
      }
      return true;
    case Ext::AfterEq:
      if (c == '"') {
        ext_ = Ext::Quoted;
      } else if (isTokenChar(c)) {
        ext_ = Ext::Value;
      } else {
        return blank;
      }
      return true;
    case Ext::Value:
    case Ext::Closed:  // after a quoted value
      if (ext_ == Ext::Value && isTokenChar(c)) return true;
      if (c == ';') {
        ext_ = Ext::AfterSemi;
      } else if (blank) {
        ext_ = Ext::BeforeSemi;
      } else {
        return false;
      }
      return true;
    case Ext::Quoted:  // any byte but CR (the line ends at the first CRLF), as in Beast
      if (c == '"') {
        ext_ = Ext::Closed;
      } else if (c == '\\') {
        ext_ = Ext::QuotedPair;
      }
      return c != '\r';
    case Ext::QuotedPair:
      ext_ = Ext::Quoted;
      return c != '\r';
  }
  return false;
}

std::size_t ChunkedFraming::fail(const char* why, std::size_t taken) {
  state_ = State::Failed;
  error_ = why;
  return taken;
}

std::size_t ChunkedFraming::take(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size() && state_ != State::Done && state_ != State::Failed) {
    if (state_ == State::Data) {
      // The bulk of a body: counted in one step.
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, bytes.size() - i));
      left_ -= n;
      i += n;
      if (left_ == 0) state_ = State::DataCr;
      continue;
    }
    const char c = bytes[i++];
    switch (state_) {
      case State::Size:
        if (++line_ > kMaxLine) return fail("a chunk-size line is too long", i);
        if (const int v = hexValue(c); v >= 0) {
          if (left_ > (~std::uint64_t{0} >> 4)) return fail("a chunk size is too large", i);
          left_ = left_ * 16 + static_cast<std::uint64_t>(v);
          ++digits_;
        } else if (digits_ == 0) {
          return fail("a chunk-size line does not start with a hex digit", i);
        } else if (c == '\r') {
          state_ = State::SizeLf;
        } else if (extension(c)) {
          state_ = State::Extension;
        } else {
          return fail("a chunk size is not a hex number", i);
        }
        break;
      case State::Extension:
        if (++line_ > kMaxLine) return fail("a chunk-size line is too long", i);
        // A line ends right after a name or a value (not after blanks, ';', '=', in quotes).
        if (c == '\r' && (ext_ == Ext::Name || ext_ == Ext::Value || ext_ == Ext::Closed)) {
          state_ = State::SizeLf;
        } else if (!extension(c)) {
          return fail("a chunk extension is malformed", i);
        }
        break;
      case State::SizeLf:
        if (c != '\n') return fail("a chunk-size line does not end with CRLF", i);
        line_ = 0;
        digits_ = 0;
        ext_ = Ext::BeforeSemi;
        state_ = left_ == 0 ? State::TrailerStart : State::Data;
        break;
      case State::DataCr:
        if (c != '\r') return fail("a chunk's data is longer than its size", i);
        state_ = State::DataLf;
        break;
      case State::DataLf:
        if (c != '\n') return fail("a chunk's data does not end with CRLF", i);
        state_ = State::Size;
        break;
      case State::TrailerStart:
        if (c == '\r') {
          state_ = State::EndLf;
          break;
        }
        if ((c == ' ' || c == '\t') && trailer_ > 0) {
          // obs-fold: the previous field's value goes on (Beast's parser takes it).
          ++trailer_;
          state_ = State::TrailerValue;
          break;
        }
        trailer_name_ = 0;
        state_ = State::TrailerName;
        [[fallthrough]];
      case State::TrailerName:
        if (++trailer_ > kMaxTrailer) return fail("the chunked trailer is too long", i);
        if (c == ':' && trailer_name_ > 0) {
          state_ = State::TrailerValue;
        } else if (isTokenChar(c)) {
          ++trailer_name_;
        } else {
          return fail("a trailer field's name is malformed", i);
        }
        break;
      case State::TrailerValue:
        if (++trailer_ > kMaxTrailer) return fail("the chunked trailer is too long", i);
        if (c == '\r') {
          state_ = State::TrailerLf;
        } else if (!isQuotedText(c)) {
          return fail("a trailer field's value holds a control character", i);
        }
        break;
      case State::TrailerLf:
        if (c != '\n') return fail("a trailer line does not end with CRLF", i);
        state_ = State::TrailerStart;
        break;
      case State::EndLf:
        if (c != '\n') return fail("the chunked body does not end with CRLF", i);
        state_ = State::Done;
        break;
      case State::Data:
      case State::Done:
      case State::Failed:
        break;
    }
  }
  return i;
}

}  // namespace berth::server
