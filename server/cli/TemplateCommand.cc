// `berth template [--print]`: the settings every new profile starts from
// (<home>/_templates/default.yaml), edited in $EDITOR or printed.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "server/cli/Cli.h"
#include "server/cli/Editor.h"
#include "vm/ProfileConfig.h"
#include "vm/ProfilePaths.h"

namespace berth::cli {
namespace {

void runTemplate(bool print) {
  const std::string file = vm::ProfilePaths::templateFile(vm::ProfilePaths::home());
  if (!std::filesystem::exists(file)) {
    if (print) {
      std::cout << vm::ProfileConfig::defaults().toYaml();
      return;
    }
    std::filesystem::create_directories(std::filesystem::path(file).parent_path());
    vm::ProfileConfig::defaults().save(file);
  }
  if (print) {
    std::ifstream in(file);
    std::cout << in.rdbuf();
    return;
  }
  std::ifstream before_in(file);
  std::stringstream before;
  before << before_in.rdbuf();
  Editor::edit(file);
  vm::ProfileConfig check = vm::ProfileConfig::defaults();
  try {
    check.mergeFile(file);
  } catch (const std::exception&) {
    std::ofstream restore(file, std::ios::trunc);  // a broken template must not break every start
    restore << before.str();
    throw;
  }
  std::cerr << "berth: template saved: new profiles start from " << file << "\n";
}

}  // namespace

void registerTemplateCommand(CLI::App& app) {
  auto print = std::make_shared<bool>(false);
  auto* cmd =
      app.add_subcommand("template", "Edit (or print) the settings new profiles start from");
  cmd->add_flag("--print", *print, "Print the template instead of editing it");
  cmd->callback([print] { runTemplate(*print); });
}

}  // namespace berth::cli
