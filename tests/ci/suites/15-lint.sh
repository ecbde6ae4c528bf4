#!/usr/bin/env bash
# Lint suite (issue 12): tests/ci/lint.sh over the whole tree. Today CI runs its clang-format
# half (`clang-format --dry-run -Werror`, .clang-format; fails on any difference). Its clang-tidy
# half (clang-tidy-22 with .clang-tidy) is not run here yet: a full run on 2 cores takes ~15 min
# and the tree still has open findings (57 on 2026-12-02; `BERTH_LINT_TIDY=1 bash
# tests/ci/lint.sh` lists them). Once they are fixed, drop BERTH_LINT_TIDY=0 below and add
# clang-tidy-22 to tests/ci/apt-packages.txt.
set -uo pipefail
cd "$(dirname "$0")/../../.."
BERTH_LINT_TIDY=0 exec bash tests/ci/lint.sh
