#pragma once
// The `berth` command line: builds the CLI11 app from every command's register function,
// runs it, and turns any exception that reaches it into one line on stderr and exit code 1.
// An unknown command gets the nearest one suggested. Not thread-safe (one call per process).
#include <CLI/App.hpp>
#include <string>
#include <vector>

namespace berth::vm {
class ProfileConfig;
}  // namespace berth::vm

namespace berth::cli {

inline constexpr const char* kBerthVersion = "0.1.0";

int runCli(int argc, char** argv);
// The words after `--` on the command line of a command that runs one (`berth ssh -- CMD ARGS`);
// set by runCli before the command's callback runs.
const std::vector<std::string>& commandTail();

struct ProfileArgs;
// `berth restart`: stops the profile's daemon and guest (a machine shutdown: containers with
// restart policies come back) and starts them again with the saved settings.
void restartProfile(const ProfileArgs& profile);
// Before a qemu profile starts: downloads the image its image.url names when that is not cached,
// else builds the guest image when none is given or cached (in this terminal, with its
// progress); throws when it cannot (download failed, not root, no recipe, build failed).
void ensureGuestImage(const vm::ProfileConfig& config);

// Replaces this process with `argv` (PATH searched): the program's stdin, stdout, stderr and
// exit code are the caller's. Throws std::runtime_error when it cannot run.
[[noreturn]] void execProgram(std::vector<std::string> argv);

// Each command file registers its subcommand(s) on the app.
void registerDaemonCommand(CLI::App& app);
void registerQemuDevCommand(CLI::App& app);
void registerStartCommand(CLI::App& app);        // start, restart
void registerUpdateCommand(CLI::App& app);       // update
void registerStopCommands(CLI::App& app);        // stop, delete
void registerStatusCommands(CLI::App& app);      // status, list, version
void registerTemplateCommand(CLI::App& app);     // template
void registerSshCommands(CLI::App& app);         // ssh, ns-init (internal)
void registerCtrCommands(CLI::App& app);         // ctr, nerdctl
void registerMountCommands(CLI::App& app);       // mount add|remove|list
void registerServiceCommands(CLI::App& app);     // service install|remove|unit
void registerDashboardCommand(CLI::App& app);    // dashboard
void registerKubernetesCommands(CLI::App& app);  // kubernetes download
void registerImageCommands(CLI::App& app);       // image build|pull
void registerCompletionCommands(CLI::App& app);  // completion, man

}  // namespace berth::cli
