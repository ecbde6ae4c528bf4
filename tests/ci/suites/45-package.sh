#!/usr/bin/env bash
# The Debian package (issue 16): builds the .deb with CPack from the build dir, runs lintian
# (fails on any error; warnings are printed), installs it on this machine with dpkg -i, and
# uses the installed berth as a user would: `berth version`, the man page and the completions
# where the system looks for them, `berth start --vm-type ns` with a HOME of its own, a
# `docker run` of a locally imported busybox image through the docker context berth made,
# `berth delete`; then `dpkg --purge` and checks that no file of the package remains and no
# process, namespace or mount of the profile is left. The tests' BERTH_BIN (the build tree's
# berth) is not touched: the package installs /usr/bin/berth only.
# Env: BERTH_BUILD_DIR (default build).
set -uo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
BUILD=${BERTH_BUILD_DIR:-$ROOT/build}
say() { echo "package: $*"; }
fail() { echo "package: FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || { echo "not run: needs root (dpkg -i, the ns driver)"; exit 77; }
if dpkg-query -W -f='${Status}' berth 2>/dev/null | grep -q "install ok installed"; then
  echo "not run: a berth package is already installed here (dpkg --purge berth first)"
  exit 77
fi
if [ -e /usr/bin/berth ]; then
  echo "not run: /usr/bin/berth exists and belongs to no package; the suite will not replace it"
  exit 77
fi
command -v lintian >/dev/null || { echo "not run: lintian is not installed"; exit 77; }

start=$SECONDS
cmake --build "$BUILD" --target package >/dev/null || fail "cmake --build $BUILD --target package"
deb=$(ls -t "$BUILD"/berth_*.deb | head -1)
[ -f "$deb" ] || fail "no .deb in $BUILD"
say "built $(basename "$deb") in $((SECONDS - start))s"
dpkg-deb -f "$deb" Depends Recommends Suggests | sed 's/^/package:   /'

lint=$(lintian "$deb" 2>&1 | grep -v "running with root privileges")
[ -z "$lint" ] || echo "$lint" | sed 's/^/package: lintian: /'
if echo "$lint" | grep -q "^E:"; then fail "lintian reports errors"; fi
say "lintian: no errors"

H=$(mktemp -d /tmp/b-pkg-XXXX)
PROFILE_DIR=$H/.berth/default
cleanup() {
  HOME=$H BERTH_HOME= /usr/bin/berth delete -f --data >/dev/null 2>&1
  dpkg --purge berth >/dev/null 2>&1
  rm -rf "$H"
}
trap cleanup EXIT

dpkg -i "$deb" >/dev/null || {
  say "dpkg -i left dependencies missing: apt-get install -f"
  DEBIAN_FRONTEND=noninteractive apt-get install -f -y -qq >/dev/null || fail "apt-get install -f"
}
files=$(dpkg -L berth)
[ "$(command -v berth)" = /usr/bin/berth ] || [ "$(command -v berth)" = /bin/berth ] ||
  say "note: berth on PATH is $(command -v berth) (PATH order), the suite runs /usr/bin/berth"
[ "$(readlink -f "${BERTH_BIN:-}" 2>/dev/null)" != /usr/bin/berth ] || fail "BERTH_BIN is /usr/bin/berth"

/usr/bin/berth version | grep -q "^berth version " || fail "berth version"
man -w berth | grep -q "^/usr/share/man/man1/berth.1.gz$" || fail "man -w berth"
MANWIDTH=80 man berth 2>&1 | grep -q "berth start" || fail "man berth does not render"
out=$(bash --norc -c 'source /usr/share/bash-completion/completions/berth
  COMP_WORDS=(berth start --vm-type ""); COMP_CWORD=3; _berth; echo "${COMPREPLY[*]}"')
[ "$out" = "qemu ns" ] || fail "bash completion from the system folder: '$out'"
for f in /usr/share/zsh/vendor-completions/_berth /usr/share/fish/vendor_completions.d/berth.fish \
         /usr/share/berth/guest/build-image.sh /usr/lib/systemd/system/berth@.socket \
         /usr/lib/systemd/system/berth@.service /usr/lib/systemd/user/berth@.socket \
         /usr/lib/systemd/user/berth@.service; do
  [ -s "$f" ] || fail "$f missing"
done
grep -q "^ExecStart=/usr/bin/berth daemon --profile %i$" /usr/lib/systemd/system/berth@.service ||
  fail "berth@.service does not run /usr/bin/berth"
say "installed: berth version, man berth, completions (bash, zsh, fish), systemd units, the guest recipe"

run_user() { env -u BERTH_HOME -u BERTH_PROFILE -u DOCKER_HOST -u DOCKER_CONTEXT \
  -u DOCKER_CONFIG HOME="$H" "$@"; }
t=$SECONDS
run_user /usr/bin/berth start --vm-type ns || fail "berth start --vm-type ns"
say "berth start --vm-type ns: $((SECONDS - t))s"
bash tests/harness/dockerd-ns.sh import-bb "$PROFILE_DIR/docker.sock" "$H/scratch" >/dev/null ||
  fail "importing busybox through the profile's socket"
out=$(run_user docker run --rm bb echo hello-from-the-package) || fail "docker run"
[ "$out" = hello-from-the-package ] || fail "docker run printed '$out'"
[ "$(run_user docker context show)" = berth ] || fail "the docker context berth is not current"
say "docker run through the context berth made: ok"
run_user /usr/bin/berth delete -f || fail "berth delete"
[ ! -e "$PROFILE_DIR/berth.yaml" ] || fail "berth delete left berth.yaml"

dpkg --purge berth >/dev/null || fail "dpkg --purge berth"
left=()
while read -r f; do
  [ -n "$f" ] && [ ! -d "$f" ] && [ -e "$f" ] && left+=("$f")
done <<<"$files"
for d in /usr/share/berth /usr/share/doc/berth; do [ -e "$d" ] && left+=("$d"); done
[ ${#left[@]} -eq 0 ] || fail "files left after dpkg --purge: ${left[*]}"
pids=$(pgrep -f -- "$H/" || true)
[ -z "$pids" ] || fail "processes of the profile left: $(ps -o pid=,args= -p "${pids//$'\n'/,}")"
grep -q -- "$H/" /proc/mounts && fail "mounts under $H left"
say "dpkg --purge: no file of the package left, nothing of the profile running"
say "passed in $((SECONDS - start))s"
