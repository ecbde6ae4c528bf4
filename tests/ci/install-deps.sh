#!/usr/bin/env bash
# Installs every Debian package listed in tests/ci/apt-packages.txt (one per line, # comments)
# and the npm modules of tests/integration/node when that folder has a package.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
mapfile -t pkgs < <(sed 's/#.*//' tests/ci/apt-packages.txt | tr -s ' \t' '\n' | sed '/^$/d')
missing=()
for p in "${pkgs[@]}"; do
  # Another package's kubectl (e.g. Google Cloud SDK's) owns /usr/bin/kubectl: Debian's would
  # collide with it, and any kubectl does.
  [ "$p" = kubernetes-client ] && command -v kubectl >/dev/null && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's nodejs ships without npm (nodesource's includes it): add Debian's npm only then.
if [ -f tests/integration/node/package.json ] && ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
fi
if [ -f tests/integration/node/package.json ] && [ ! -d tests/integration/node/node_modules ]; then
  (cd tests/integration/node && npm install --no-audit --no-fund --silent)
fi
