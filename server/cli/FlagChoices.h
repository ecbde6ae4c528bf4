#pragma once
// FlagChoices: the fixed set of values an option of the CLI takes (--arch, --vm-type, the shell
// of `berth completion`), written once: attached to the CLI11 option as its check, so the parser
// refuses any other value with one line, and read back by the completion and man page generators.
// Not thread-safe (the CLI is built and parsed on one thread).
#include <CLI/App.hpp>
#include <string>
#include <vector>

namespace berth::cli {

class FlagChoices {
 public:
  // Makes `option` accept only `values`; returns it for chaining.
  static CLI::Option* attach(CLI::Option* option, std::vector<std::string> values);
  // The values attached to `option`, or an empty list.
  static const std::vector<std::string>& of(const CLI::Option* option);
  // "a, b or c": the values as a sentence.
  static std::string sentence(const std::vector<std::string>& values);
};

}  // namespace berth::cli
