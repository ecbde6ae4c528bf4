#!/usr/bin/env bash
# Lint suite (issue 12): tests/ci/lint.sh over the whole tree: `clang-format --dry-run -Werror`
# (.clang-format) and clang-tidy-22 (.clang-tidy, tests/.clang-tidy) with the compile commands
# of run-all.sh's build; fails on any finding. A whole-tree clang-tidy run costs ~12 min of 2
# cores, so run-all.sh runs this suite at nice 19 in the background, from the integration suite
# until the suites after it have run.
set -uo pipefail
cd "$(dirname "$0")/../../.."
command -v clang-tidy-22 >/dev/null ||
  { echo "lint: clang-tidy-22 missing (tests/ci/apt-packages.txt; bookworm-security)"; exit 1; }
BERTH_CLANG_TIDY=clang-tidy-22 exec bash tests/ci/lint.sh
