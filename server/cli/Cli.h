#pragma once
// The `berth` command line: builds the CLI11 app from every command's register function,
// runs it, and turns any exception that reaches it into one line on stderr and exit code 1.
#include <CLI/App.hpp>

namespace berth::cli {

int runCli(int argc, char** argv);

// Each command file registers its subcommand(s) on the app.
void registerDaemonCommand(CLI::App& app);
void registerQemuDevCommand(CLI::App& app);

}  // namespace berth::cli
