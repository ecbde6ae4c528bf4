#!/usr/bin/env bash
# Lint (CI's tests/ci/suites/15-lint.sh runs it whole; lint-changed.sh before landing):
# `clang-format --dry-run -Werror` over every .h/.cc in the tree (.clang-format), then
# `clang-tidy` (.clang-tidy; project headers through the .cc files that include them) over every
# .cc, with the compile commands of the build run-all.sh made ($BERTH_BUILD_DIR, default build/;
# the fuzz targets, built only by the fuzz suite, get flags interpolated from their neighbours),
# BERTH_LINT_JOBS (default 2) files at a time. Fails on any finding; prints each once (a header's
# come once per .cc) with a count per check.
# `lint.sh FILE...` checks only those files (tests/ci/lint-changed.sh: what a branch changed):
# a header is tidied through its own .cc, else through one .cc that includes it.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BERTH_BUILD_DIR:-$ROOT/build}
JOBS=${BERTH_LINT_JOBS:-2}
# clang-tidy-22 when installed: .clang-tidy is written for it.
TIDY=${BERTH_CLANG_TIDY:-$(command -v clang-tidy-22 || echo clang-tidy)}
# BERTH_LINT_TIDY=0: clang-format only (a quick check while editing).
RUN_TIDY=${BERTH_LINT_TIDY:-1}
tools=(clang-format)
[ "$RUN_TIDY" = 0 ] || tools+=("$TIDY")
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "lint: $tool missing (tests/ci/apt-packages.txt)"; exit 1; }
done
[ -f "$BUILD/compile_commands.json" ] ||
  { echo "lint: $BUILD/compile_commands.json missing: build first"; exit 1; }

if [ $# -gt 0 ]; then
  sources=("$@")
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t sources < <(git ls-files '*.h' '*.cc')
else
  mapfile -t sources < <(find . -path './build*' -prune -o \( -name '*.h' -o -name '*.cc' \) -print |
    sed 's|^\./||' | sort)
fi
failed=0

start=$SECONDS
fmt_out=$(clang-format --dry-run -Werror "${sources[@]}" 2>&1)
fmt_files=$(printf '%s\n' "$fmt_out" | grep -oE '^[^: ]+\.(h|cc):[0-9]+:[0-9]+: error' | cut -d: -f1 | sort -u)
if [ -n "$fmt_files" ]; then
  failed=1
  echo "lint: clang-format: $(printf '%s\n' "$fmt_out" | grep -c ': error: ') places in" \
    "$(printf '%s\n' "$fmt_files" | wc -l) of ${#sources[@]} files differ from .clang-format (clang-format -i FILE):"
  printf '%s\n' "$fmt_files" | while read -r f; do
    echo "  $f: $(printf '%s\n' "$fmt_out" | grep -c "^$f:")"
  done
else
  echo "lint: clang-format: ${#sources[@]} files formatted"
fi
echo "lint: clang-format took $((SECONDS - start))s"

if [ "$RUN_TIDY" = 0 ]; then
  echo "lint: clang-tidy not run (BERTH_LINT_TIDY=0)"
  exit "$failed"
fi

# The .cc files to tidy: the given ones, and for a header its own .cc or one that includes it.
# server/net/AsioImpl.cc is only Boost's sources (nothing of ours to check, the costliest file).
start=$SECONDS
declare -A seen=()
tidy=()
add() { [ -n "$1" ] && [ -z "${seen[$1]:-}" ] && [ "$1" != server/net/AsioImpl.cc ] && seen[$1]=1 && tidy+=("$1"); }
for f in "${sources[@]}"; do
  case $f in
    *.cc) add "$f" ;;
    *.h)
      if [ -f "${f%.h}.cc" ]; then
        add "${f%.h}.cc"
      else
        add "$(git grep -lF "#include \"$f\"" -- '*.cc' | head -1)"
      fi
      ;;
  esac
done
findings=""
errors=""
log=$(mktemp /tmp/b-lint-XXXXXX)
if [ ${#tidy[@]} -gt 0 ]; then
  printf '%s\n' "${tidy[@]}" | xargs -P "$JOBS" -n 1 "$TIDY" -p "$BUILD" --quiet >"$log" 2>&1
  # A header reached through a layer's include root (build/layers/LIB/...) is named by its
  # path in the tree, so that each finding is listed once.
  findings=$(grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error): .*\[[a-z0-9.,-]+\]$' "$log" |
    sed -E "s|^$ROOT/||; s|^$BUILD/layers/[^/]+/||; s|^build/layers/[^/]+/||" | sort -u)
  errors=$(grep -E '^[^ ]+:[0-9]+:[0-9]+: (fatal )?error: ' "$log" | grep -vE '\[[a-z0-9.,-]+\]$' | sort -u)
fi
if [ -n "$errors" ]; then
  failed=1
  echo "lint: clang-tidy could not compile:"
  printf '%s\n' "$errors" | head -20
fi
if [ -n "$findings" ]; then
  failed=1
  echo "lint: clang-tidy: $(printf '%s\n' "$findings" | wc -l) findings in ${#tidy[@]} files; per check:"
  printf '%s\n' "$findings" | grep -oE '\[[a-z0-9.,-]+\]$' | sort | uniq -c | sort -rn
  printf '%s\n' "$findings" | head -300
else
  echo "lint: clang-tidy: ${#tidy[@]} files, no findings"
fi
echo "lint: clang-tidy took $((SECONDS - start))s with $JOBS jobs"
if [ "$failed" -eq 0 ]; then rm -f "$log"; else echo "lint: clang-tidy's full output: $log"; fi
exit "$failed"
