#pragma once
// Editor: opens a file in the user's editor ($VISUAL, else $EDITOR, else vi) and waits for it
// (`berth start --edit`, `berth template`). Blocking; throws std::runtime_error when the editor
// fails. Not thread-safe (runs a child on the terminal).
#include <string>

namespace berth::cli {

class Editor {
 public:
  static void edit(const std::string& path);
};

}  // namespace berth::cli
