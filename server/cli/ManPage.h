#pragma once
// ManPage: berth.1 (roff, man(7) macros) as `berth man` prints it, generated from the
// CommandTree (so from the parser's own definition): every visible command with its synopsis,
// help, positionals and options (with their fixed value sets), then the environment, the files
// and the exit status. Pure text generation; thread-safe.
#include <string>

#include "server/cli/CommandTree.h"

namespace berth::cli {

class ManPage {
 public:
  static std::string generate(const CommandSpec& root, const std::string& version);
};

}  // namespace berth::cli
