#include "server/cli/Cli.h"

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

namespace berth::cli {

int runCli(int argc, char** argv) {
  CLI::App app{"berth: a Docker engine in a VM or sandbox, behind a faithful Docker API socket"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("berth ") + kBerthVersion);
  registerDaemonCommand(app);
  registerQemuDevCommand(app);
  registerStartCommand(app);
  registerStopCommands(app);
  registerStatusCommands(app);
  registerTemplateCommand(app);
  registerSshCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "berth: " << e.what() << " (see berth --help)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "berth: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace berth::cli
