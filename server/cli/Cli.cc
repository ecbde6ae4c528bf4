#include "server/cli/Cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <iostream>
#include <string_view>

namespace berth::cli {
namespace {

// Commands that run a command of the user's (`berth ssh -- CMD ARGS`): the words after `--`.
constexpr std::array<std::string_view, 3> kTailCommands = {"ssh", "ctr", "nerdctl"};

std::vector<std::string>& tail() {
  static std::vector<std::string> words;
  return words;
}

// Edit distance where swapping two neighbours counts as one edit ("statsu" -> "status": 1).
std::size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// "download, start, stop": the visible commands of `app`, for a line that asks to choose one.
std::string commandList(CLI::App& app) {
  std::string list;
  for (const auto* sub : app.get_subcommands([](CLI::App* s) { return !s->get_group().empty(); }))
    list += (list.empty() ? "" : ", ") + sub->get_name();
  return list;
}

// The line for a word that names no command of `app`; `path` is the group ("" for berth's own
// commands, "kubernetes"): the nearest visible command, if one is near, else where to look.
std::string unknownCommand(CLI::App& app, const std::string& path, const std::string& word) {
  std::string best;
  std::size_t best_distance = 0;
  for (const auto* sub : app.get_subcommands([](CLI::App* s) { return !s->get_group().empty(); })) {
    std::vector<std::string> names = sub->get_aliases();
    names.push_back(sub->get_name());
    for (const auto& name : names) {
      const std::size_t distance = editDistance(word, name);
      if (best.empty() || distance < best_distance) {
        best = sub->get_name();
        best_distance = distance;
      }
    }
  }
  const bool near = !best.empty() && (best_distance <= 2 || best.rfind(word, 0) == 0) &&
                    best_distance < std::max<std::size_t>(word.size(), 2);
  const std::string group = path.empty() ? "" : path + " ";
  const std::string line = "unknown command \"" + group + word + "\"";
  if (near) return line + "; did you mean \"" + group + best + "\"?";
  if (path.empty()) return line + " (berth --help lists the commands)";
  return line + " (" + path + " commands: " + commandList(app) + ")";
}

// The command words from berth down to `level` ("service unit"; "" for berth itself).
std::string groupPath(const CLI::App& app, const CLI::App* level) {
  std::string path;
  for (; level != &app; level = level->get_parent())
    path = level->get_name() + (path.empty() ? "" : " ") + path;
  return path;
}

// Checks the leading command words (`berth kubernetes start`) against each level's commands
// before CLI11 parses: its own message for a word it cannot place is "A subcommand is
// required" or "argument was not expected", which names neither the word nor the choices.
void checkCommandWords(CLI::App& app, int argc, char** argv) {
  CLI::App* level = &app;
  for (int i = 1; i < argc && argv[i][0] != '-'; ++i) {
    if (level->get_require_subcommand_min() == 0) return;  // a leaf: its words are arguments
    const std::string word = argv[i];
    auto found = level->get_subcommands([&word](CLI::App* s) { return s->check_name(word); });
    if (found.empty())
      throw std::invalid_argument(unknownCommand(*level, groupPath(app, level), word));
    level = found.front();
  }
}

// The deepest command CLI11 had parsed when it failed (the one whose --help to point at).
CLI::App* parsedCommand(CLI::App& app) {
  CLI::App* level = &app;
  while (!level->get_subcommands().empty()) level = level->get_subcommands().front();
  return level;
}

}  // namespace

const std::vector<std::string>& commandTail() { return tail(); }

void execProgram(std::vector<std::string> argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(errno));
}

int runCli(int argc, char** argv) {
  CLI::App app{"berth: a Docker engine in a VM or sandbox, behind a faithful Docker API socket"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("berth ") + kBerthVersion);
  registerDaemonCommand(app);
  registerQemuDevCommand(app);
  registerStartCommand(app);
  registerUpdateCommand(app);
  registerStopCommands(app);
  registerStatusCommands(app);
  registerTemplateCommand(app);
  registerSshCommands(app);
  registerCtrCommands(app);
  registerMountCommands(app);
  registerServiceCommands(app);
  registerDashboardCommand(app);
  registerKubernetesCommands(app);
  registerImageCommands(app);
  registerCompletionCommands(app);  // last: it describes the commands registered before it
  try {
    checkCommandWords(app, argc, argv);
    // The words after `--` belong to the command a tail command runs, not to berth's parser
    // (which would hand them to the first positional: `berth ssh -- ls` is not profile "ls").
    int end = argc;
    for (int i = 1; i < argc; ++i) {
      if (std::string(argv[i]) == "--") {
        end = i;
        break;
      }
    }
    if (end < argc) {
      if (argc < 2 ||
          std::find(kTailCommands.begin(), kTailCommands.end(), argv[1]) == kTailCommands.end())
        throw std::invalid_argument(std::string("'") + (argc > 1 ? argv[1] : "berth") +
                                    "' takes no command after --");
      tail().assign(argv + end + 1, argv + argc);
    }
    app.parse(end, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    CLI::App* failed = parsedCommand(app);
    const std::string path = groupPath(app, failed);
    const std::string help = path.empty() ? "berth" : "berth " + path;
    std::string what = e.what();
    if (what.find("subcommand is required") != std::string::npos)
      what = "which command?" + (failed == &app ? "" : " " + commandList(*failed));
    std::cerr << "berth: " << what << " (see " << help << " --help)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "berth: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace berth::cli
