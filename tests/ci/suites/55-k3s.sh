#!/usr/bin/env bash
# Kubernetes end to end with a real k3s (tests/e2e/test_k3s.py). k3s cannot be fetched on
# machines without internet and is not a Debian package: the suite runs only when
# BERTH_K3S_ARTIFACTS names a folder with a k3s release's files (k3s,
# k3s-airgap-images-amd64.tar.gz, sha256sum-amd64.txt), and otherwise reports "not run" (exit 77).
set -uo pipefail
cd "$(dirname "$0")/../../.."
berth=${BERTH_BIN:-${BERTH_BUILD_DIR:-build}/server/berth}
if [ -z "${BERTH_K3S_ARTIFACTS:-}" ]; then
  echo "not run: no k3s release files (set BERTH_K3S_ARTIFACTS=DIR; k3s is not downloadable here)"
  exit 77
fi
# The files are checked the way berth checks them before the guest would use them.
if ! "$berth" kubernetes download; then
  echo "k3s: BERTH_K3S_ARTIFACTS=$BERTH_K3S_ARTIFACTS does not hold a verified k3s release"
  exit 1
fi
BERTH_BIN=$berth /usr/bin/python3 -m pytest -x -v -p no:cacheprovider tests/e2e/test_k3s.py
