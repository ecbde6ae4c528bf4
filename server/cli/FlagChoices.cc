#include "server/cli/FlagChoices.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <map>

namespace berth::cli {
namespace {

std::map<const CLI::Option*, std::vector<std::string>>& registry() {
  static std::map<const CLI::Option*, std::vector<std::string>> values;
  return values;
}

}  // namespace

CLI::Option* FlagChoices::attach(CLI::Option* option, std::vector<std::string> values) {
  std::string joined;
  for (const auto& value : values) joined += (joined.empty() ? "" : "|") + value;
  const std::string expected = sentence(values);
  option->check(CLI::Validator(
      [values, expected](std::string& value) -> std::string {
        if (std::find(values.begin(), values.end(), value) != values.end()) return "";
        return "must be " + expected + ", not '" + value + "'";
      },
      "", "choices"));
  option->type_name(joined);
  registry()[option] = std::move(values);
  return option;
}

const std::vector<std::string>& FlagChoices::of(const CLI::Option* option) {
  static const std::vector<std::string> kNone;
  auto it = registry().find(option);
  return it == registry().end() ? kNone : it->second;
}

std::string FlagChoices::sentence(const std::vector<std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i)
    out += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + values[i];
  return out;
}

}  // namespace berth::cli
