#pragma once
// CompletionScript: the shell completion scripts of `berth completion bash|zsh|fish`, generated
// from the CommandTree (so from the parser's own definition): subcommands and their aliases,
// options, the fixed value sets of options and positionals, and profile names, which the script
// asks `berth list --json` for at completion time. Pure text generation; thread-safe.
#include <string>
#include <vector>

#include "server/cli/CommandTree.h"

namespace berth::cli {

class CompletionScript {
 public:
  // The shells a script can be made for: "bash", "zsh", "fish".
  static const std::vector<std::string>& shells();
  // The script for `shell` (one of shells()); throws std::invalid_argument otherwise.
  static std::string generate(const CommandSpec& root, const std::string& shell);

 private:
  static std::string bash(const CommandSpec& root);
  static std::string zsh(const CommandSpec& root);
  static std::string fish(const CommandSpec& root);
};

}  // namespace berth::cli
