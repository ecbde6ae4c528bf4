#!/usr/bin/env python3
"""containerd relay benchmark (issue 14): `ctr images import` and `ctr images export` of an
image with a 256 MiB layer of random bytes, through berth's <profile>/containerd.sock (the L4
relay: server/ByteRelayListener) and straight to the guest's containerd socket, in one
containerd profile on the ns driver. Import uses --no-unpack, so both rows time the transfer
through the socket, not containerd's unpacking. Each cell is the best of --rounds runs (the
image is removed, with its content, between imports); the ratio is direct / berth (1.0: the
relay costs nothing; target >= 0.9). A program, not a timed test: printed, not asserted.

  tests/bench/containerd_bench.py [--mib 256] [--rounds 2]
Env: BERTH_BIN (default build/server/berth). Needs root, containerd and runc (Debian).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from containerd_helpers import busybox_docker_archive  # noqa: E402
from profiles_helpers import Profiles  # noqa: E402

IMAGE = "docker.io/library/bench-big:latest"
CTR = shutil.which("ctr") or "/usr/bin/ctr"


def ctr(sock, *args):
    p = subprocess.run([CTR, "--address", sock, *args], capture_output=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit("ctr %s failed: %s" % (" ".join(args), p.stderr.decode().strip()))
    return p


def timed(sock, *args):
    t0 = time.monotonic()
    ctr(sock, *args)
    return time.monotonic() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    profiles = Profiles()
    try:
        t0 = time.monotonic()
        profiles.start("--runtime", "containerd")
        boot = time.monotonic() - t0
        tarball = os.path.join(profiles.home, "big.tar")
        busybox_docker_archive(tarball, IMAGE, args.mib << 20)
        size = os.path.getsize(tarball) / (1 << 20)
        out = os.path.join(profiles.home, "out.tar")
        paths = {"berth": os.path.join(profiles.dir(), "containerd.sock"),
                 "direct": os.path.join(profiles.dir(), "guest", "engine.sock")}
        best = {(op, path): float("inf") for op in ("import", "export") for path in paths}
        for _ in range(args.rounds):
            for path, sock in paths.items():
                best["import", path] = min(best["import", path],
                                           timed(sock, "images", "import", "--no-unpack",
                                                 tarball))
                best["export", path] = min(best["export", path],
                                           timed(sock, "images", "export", out, IMAGE))
                os.unlink(out)
                ctr(sock, "images", "rm", "--sync", IMAGE)
        print("containerd relay: ctr images import (--no-unpack) / export of a %.0f MiB image "
              "(best of %d; guest booted in %.1fs; %d cores)" % (size, args.rounds, boot,
                                                                  os.cpu_count()))
        print("%-8s %12s %12s %14s" % ("op", "direct s", "berth s", "direct/berth"))
        for op in ("import", "export"):
            direct, berth = best[op, "direct"], best[op, "berth"]
            print("%-8s %12.2f %12.2f %14.2f   (%.0f / %.0f MiB/s)" % (
                op, direct, berth, direct / berth, size / direct, size / berth))
    finally:
        profiles.cleanup()


if __name__ == "__main__":
    main()
