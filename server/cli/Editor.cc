#include "server/cli/Editor.h"

#include <cstdlib>
#include <stdexcept>

namespace berth::cli {

void Editor::edit(const std::string& path) {
  const char* editor = std::getenv("VISUAL");
  if (editor == nullptr || *editor == '\0') editor = std::getenv("EDITOR");
  // Through the shell, as git does: EDITOR may carry arguments ("code --wait").
  const std::string command =
      std::string(editor != nullptr && *editor != '\0' ? editor : "vi") + " '" + path + "'";
  // NOLINTNEXTLINE(bugprone-command-processor): the user's own command line, run as git runs it.
  if (std::system(command.c_str()) != 0)
    throw std::runtime_error("the editor exited with an error");
}

}  // namespace berth::cli
