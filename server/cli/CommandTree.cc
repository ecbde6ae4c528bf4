#include "server/cli/CommandTree.h"

#include <CLI/CLI.hpp>
#include <algorithm>

#include "server/cli/FlagChoices.h"

namespace berth::cli {
namespace {

bool visible(const CLI::Option* option) { return !option->get_group().empty(); }

OptionSpec describeOption(const CLI::Option* option) {
  OptionSpec spec;
  for (const auto& s : option->get_snames()) spec.names.push_back("-" + s);
  for (const auto& l : option->get_lnames()) spec.names.push_back("--" + l);
  if (spec.names.empty()) spec.positional = option->get_name();
  spec.help = option->get_description();
  spec.choices = FlagChoices::of(option);
  if (option->get_expected_max() > 0) {
    // CLI11 appends its checks' descriptions ("INT:INT in [1 - 64]"): keep the most telling.
    spec.value_name = option->get_type_name();
    const auto colon = spec.value_name.find(':');
    if (colon != std::string::npos && colon > 0 &&
        std::all_of(spec.value_name.begin(),
                    spec.value_name.begin() + static_cast<std::ptrdiff_t>(colon),
                    [](char c) { return c >= 'A' && c <= 'Z'; }))
      spec.value_name.erase(0, colon + 1);
    if (spec.value_name.empty()) spec.value_name = "VALUE";
  }
  // One convention, kept by ProfileArgs: the positional and the flag that name a profile are
  // both called "profile".
  spec.profile = spec.positional == "profile" ||
                 std::find(spec.names.begin(), spec.names.end(), "--profile") != spec.names.end();
  spec.repeatable = spec.takesValue() && option->get_items_expected_max() > 1;
  spec.required = option->get_required();
  return spec;
}

CommandSpec describeCommand(const CLI::App& app, const std::string& path) {
  CommandSpec spec;
  spec.name = app.get_parent() == nullptr ? "" : app.get_name();
  spec.path = path;
  spec.aliases = app.get_aliases();
  spec.help = app.get_description();
  for (const CLI::Option* option : app.get_options()) {
    if (!visible(option)) continue;
    (option->get_positional() && option->get_snames().empty() && option->get_lnames().empty()
         ? spec.positionals
         : spec.options)
        .push_back(describeOption(option));
  }
  for (const CLI::App* sub :
       app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
    spec.commands.push_back(
        describeCommand(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name()));
  }
  return spec;
}

void collect(const CommandSpec& command, std::vector<const CommandSpec*>& out) {
  out.push_back(&command);
  for (const auto& sub : command.commands) collect(sub, out);
}

}  // namespace

CommandSpec CommandTree::describe(const CLI::App& app) { return describeCommand(app, ""); }

std::vector<const CommandSpec*> CommandTree::flatten(const CommandSpec& root) {
  std::vector<const CommandSpec*> out;
  collect(root, out);
  return out;
}

}  // namespace berth::cli
