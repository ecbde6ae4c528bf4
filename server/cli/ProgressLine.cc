#include "server/cli/ProgressLine.h"

#include <unistd.h>

#include <iostream>

namespace berth::cli {

vm::HttpsDownload::Progress ProgressLine::toStderr() {
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  return [tty](const std::string& line, bool done) {
    if (tty) {
      std::cerr << "\r\033[K" << line << (done ? "\n" : "") << std::flush;
    } else {
      std::cerr << line << "\n";
    }
  };
}

}  // namespace berth::cli
