#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/LogLines.h"

namespace berth::api {
namespace {

std::string frame(char stream, const std::string& payload) {
  std::string out = {stream, 0, 0, 0};
  const auto n = static_cast<std::uint32_t>(payload.size());
  out += static_cast<char>(n >> 24);
  out += static_cast<char>(n >> 16);
  out += static_cast<char>(n >> 8);
  out += static_cast<char>(n);
  return out + payload;
}

struct Collected {
  std::vector<std::string> lines;
  LogLines::LineHandler handler() {
    return [this](LogLines::Source source, std::string_view line) {
      lines.push_back((source == LogLines::Source::Stderr ? "err:" : "out:") + std::string(line));
    };
  }
};

TEST(LogLinesTest, MultiplexedFramesSplitAnywhereGiveWholeLinesPerStream) {
  const std::string body = frame(1, "hello\nwor") + frame(2, "oops\r\n") + frame(1, "ld\n") +
                           frame(1, "tail without newline");
  LogLines lines(false);
  Collected got;
  for (char c : body) lines.feed(std::string_view(&c, 1), got.handler());  // byte by byte
  lines.finish(got.handler());
  EXPECT_EQ(got.lines, (std::vector<std::string>{"out:hello", "err:oops", "out:world",
                                                 "out:tail without newline"}));
}

TEST(LogLinesTest, TtyLogsAreRawLines) {
  LogLines lines(true);
  Collected got;
  lines.feed("a\nb", got.handler());
  lines.feed("c\n\n", got.handler());
  EXPECT_EQ(got.lines, (std::vector<std::string>{"out:a", "out:bc", "out:"}));
}

TEST(LogLinesTest, AVeryLongLineIsHandedOnInPieces) {
  LogLines lines(true);
  Collected got;
  lines.feed(std::string(std::size_t{70} * 1024, 'x'), got.handler());
  ASSERT_EQ(got.lines.size(), 1u);
  EXPECT_GE(got.lines[0].size(), 64u * 1024);
}

TEST(LogLinesTest, TtyComesFromTheContainersConfig) {
  EXPECT_TRUE(LogLines::hasTty(nlohmann::json::parse(R"({"Config": {"Tty": true}})")));
  EXPECT_FALSE(LogLines::hasTty(nlohmann::json::parse(R"({"Config": {"Tty": false}})")));
  EXPECT_FALSE(LogLines::hasTty(nlohmann::json::parse(R"({"Config": null})")));
  EXPECT_FALSE(LogLines::hasTty(nlohmann::json::parse("[]")));
}

}  // namespace
}  // namespace berth::api
