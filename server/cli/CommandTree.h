#pragma once
// CommandTree: the CLI's commands and options as plain data, read from the very CLI11 app that
// parses the command line (names, aliases, help, which options take a value, their fixed value
// sets from FlagChoices, which ones name a profile). The completion scripts and the man page are
// generated from it, so they never drift from the parser. Hidden commands and options (an empty
// CLI11 group) are left out. Value type; not thread-safe.
#include <CLI/App.hpp>
#include <string>
#include <vector>

namespace berth::cli {

struct OptionSpec {
  std::vector<std::string> names;  // "-p", "--profile" (flags); empty for a positional
  std::string positional;          // the positional's name ("profile", "shell")
  std::string value_name;          // "" for a flag that takes no value
  std::string help;
  std::vector<std::string> choices;  // a fixed set of values, or empty
  bool profile = false;              // its value is a profile name
  bool repeatable = false;
  bool required = false;

  bool takesValue() const { return !value_name.empty(); }
};

struct CommandSpec {
  std::string name;  // "" for berth itself
  std::string path;  // "mount add" ("" for berth itself)
  std::vector<std::string> aliases;
  std::string help;
  std::vector<OptionSpec> options;      // -x/--xx, --help included
  std::vector<OptionSpec> positionals;  // in order
  std::vector<CommandSpec> commands;    // subcommands
};

class CommandTree {
 public:
  // Reads `app` (the root command) and every visible subcommand under it.
  static CommandSpec describe(const CLI::App& app);
  // Every command of the tree, depth first, the root first.
  static std::vector<const CommandSpec*> flatten(const CommandSpec& root);
};

}  // namespace berth::cli
