#include <csignal>

#include "server/cli/Cli.h"

int main(int argc, char** argv) {
  // A client that goes away mid-write must not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  return berth::cli::runCli(argc, argv);
}
