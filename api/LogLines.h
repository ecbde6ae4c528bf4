#pragma once
// LogLines: turns the body of `GET /containers/{id}/logs?follow=1` into whole lines. A container
// without a TTY sends Docker's multiplexed stream (8-byte frame headers: stream, 0, 0, 0, size
// big-endian); with a TTY the raw bytes. Bytes may arrive split anywhere; a partial line waits
// for the rest (at most 64 KiB, then it is handed on as it is). Pure code; not thread-safe.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace berth::api {

class LogLines {
 public:
  enum class Source { Stdout, Stderr };
  using LineHandler = std::function<void(Source source, std::string_view line)>;

  explicit LogLines(bool tty) : tty_(tty) {}
  // Whether a container (its `GET /containers/{id}/json` body) has a TTY: then its logs are raw.
  static bool hasTty(const nlohmann::json& inspect);

  // Feeds bytes of the body; calls `on_line` for every line completed (without its newline).
  void feed(std::string_view bytes, const LineHandler& on_line);
  // The body ended: hands on what is left of an unfinished line.
  void finish(const LineHandler& on_line);

 private:
  void payload(Source source, std::string_view bytes, const LineHandler& on_line);

  bool tty_;
  std::string header_;            // a frame header read in part
  std::uint32_t frame_left_ = 0;  // payload bytes of the current frame still to come
  Source frame_source_ = Source::Stdout;
  std::string partial_[2];  // an unfinished line per source
};

}  // namespace berth::api
