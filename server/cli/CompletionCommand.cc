// `berth completion bash|zsh|fish` and `berth man`: the completion scripts and the man page,
// generated from the CLI's own definition (the app these commands are registered on).
#include <CLI/CLI.hpp>
#include <iostream>

#include "server/cli/Cli.h"
#include "server/cli/CommandTree.h"
#include "server/cli/CompletionScript.h"
#include "server/cli/FlagChoices.h"
#include "server/cli/ManPage.h"

namespace berth::cli {

void registerCompletionCommands(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  auto* completion = app.add_subcommand(
      "completion", "Print the shell completion script (source <(berth completion bash))");
  FlagChoices::attach(
      completion->add_option("shell", *shell, "The shell the script is for")->required(),
      CompletionScript::shells());
  completion->callback([&app, shell] {
    std::cout << CompletionScript::generate(CommandTree::describe(app), *shell);
  });

  auto* man = app.add_subcommand("man", "Print the manual page berth.1 (man -l <(berth man))");
  man->callback(
      [&app] { std::cout << ManPage::generate(CommandTree::describe(app), kBerthVersion); });
}

}  // namespace berth::cli
