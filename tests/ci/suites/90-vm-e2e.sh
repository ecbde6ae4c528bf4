#!/usr/bin/env bash
# The slow VM suite: builds the qemu guest image (or reuses the cached one: ~6-10 min cold,
# ~0 s warm; ~180 MB from Debian's mirror), then runs tests/e2e/test_qemu_vm.py: a real VM
# under TCG when there is no KVM (full boot, docker run, bind mount, published port, ports of a
# --network host container and a service started over ssh, ssh (also
# with the guest's /root covered by a mount), berth update of the guest's docker.io, stop +
# resume from the saved state, delete, a boot of the image downloaded from image.url, a dockerd
# that never answers -> 503), then tests/e2e/test_qemu_containerd.py: a lazy --runtime containerd
# profile booted by its first ctr call (import, berth ctr run, exit codes, docker.sock refusal).
# Prints the time of each step and the boot phases. Env: BERTH_IMAGE_CACHE (image cache dir).
set -uo pipefail
cd "$(dirname "$0")/../../.."
t0=$SECONDS
BERTH=${BERTH_BIN:-$PWD/build/server/berth}
echo "vm-e2e: guest image (berth image build: contrib/guest/build-image.sh)"
if ! image=$("$BERTH" image build | tail -1); then
  echo "vm-e2e: the guest image could not be built"
  exit 1
fi
echo "vm-e2e: image $image ready after $((SECONDS - t0))s"
t1=$SECONDS
BERTH_E2E_IMAGE=$image /usr/bin/python3 -m pytest -x -v -s -p no:cacheprovider tests/e2e/test_qemu_vm.py
rc=$?
if [ $rc -eq 0 ]; then
  BERTH_E2E_IMAGE=$image /usr/bin/python3 -m pytest -x -v -s -p no:cacheprovider \
    tests/e2e/test_qemu_containerd.py
  rc=$?
fi
echo "vm-e2e: tests took $((SECONDS - t1))s; suite wall time $((SECONDS - t0))s (image step $((t1 - t0))s)"
# Nothing may be left running: a QEMU of this suite's temp homes would be a leak.
if pgrep -af 'qemu-system.*/tmp/b-qemu-' >/dev/null; then
  echo "vm-e2e: QEMU processes left behind:"
  pgrep -af 'qemu-system.*/tmp/b-qemu-'
  rc=1
fi
exit $rc
