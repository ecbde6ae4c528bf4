#!/usr/bin/env bash
# lint-changed.sh [BASE]: tests/ci/lint.sh (clang-format and clang-tidy with the repo's
# .clang-format and .clang-tidy) over only the .h/.cc files changed since BASE (default main):
# committed on this branch since it left BASE, uncommitted, or new and not ignored. Run it
# before landing; it needs a build (BERTH_BUILD_DIR, default build/) for compile_commands.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
BASE=${1:-main}
git rev-parse --verify -q "$BASE^{commit}" >/dev/null || { echo "lint-changed: no commit '$BASE'"; exit 2; }
mapfile -t files < <({
  git diff --name-only --diff-filter=d "$BASE"...HEAD
  git diff --name-only --diff-filter=d HEAD
  git ls-files --others --exclude-standard
} | grep -E '\.(h|cc)$' | sort -u | while read -r f; do [ -f "$f" ] && echo "$f"; done)
if [ ${#files[@]} -eq 0 ]; then
  echo "lint-changed: no .h/.cc changed since $BASE"
  exit 0
fi
echo "lint-changed: ${#files[@]} .h/.cc changed since $BASE"
exec bash tests/ci/lint.sh "${files[@]}"
