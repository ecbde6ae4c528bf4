#!/usr/bin/env bash
# Quick start on a fresh Debian/Ubuntu machine (run as root, from a checkout):
#   installs what is missing (build tools, Boost, ..., and Debian's docker.io for the engine),
#   builds berth (Release), installs it to /usr/local/bin, and runs `berth start`, which starts
#   the profile's daemon and engine and prints the DOCKER_HOST to use.
# Extra arguments go to `berth start` (e.g. --vm-type ns, --mount ~/src:w).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (sudo $0): it installs packages and the ns driver needs root" >&2; exit 1; }

pkgs=(build-essential cmake ninja-build pkg-config libboost-dev libboost-system-dev libssl-dev
      nlohmann-json3-dev libyaml-cpp-dev libcli11-dev
      docker.io iproute2 iptables nftables)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The docker CLI: Debian's docker.io brings one; keep a CLI that is already there.
if [ ${#missing[@]} -gt 0 ]; then
  echo "quickstart: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# docker.io enables a system dockerd; berth runs its own engine and does not need that one.

echo "quickstart: building berth"
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBERTH_TESTS=OFF >/dev/null
cmake --build build-release -j "$(nproc)" --target berth
install -m 0755 build-release/server/berth /usr/local/bin/berth
echo "quickstart: installed /usr/local/bin/berth"
exec /usr/local/bin/berth start "$@"
