#!/usr/bin/env python3
"""containerd socket benchmark (issue 14): `ctr images import` and `ctr images export` of an
image with a 256 MiB layer of random bytes, in one containerd profile on the ns driver, through
  - berth: <profile>/containerd.sock as users get it. With idle stop off (this profile), while
    the guest runs, it names containerd's own socket (server/SocketHandover): no relay at all.
  - relay: berth's L4 relay (server/ByteRelayListener, ThreadedPipes), what containerd.sock
    serves while the guest boots and whenever idle stop is on (idle stop must count every
    client). Reached here at the relay's own socket file, `.containerd.sock.berth`.
  - direct: the guest's containerd socket;
  - the relays a user could put there instead: socat, and Debian's HAProxy in mode tcp, unix
    socket to unix socket, where installed.
Import uses --no-unpack, so the rows time the transfer through the socket, not containerd's
unpacking. Each cell is the best of --rounds runs (the image is removed, with its content,
between imports); direct/x is direct's time over x's (1.0: the path costs nothing; target
>= 0.9), and other/relay is another relay's time over berth's relay (> 1.0: berth's relay is
faster). A program, not a timed test: printed, not asserted.

  tests/bench/containerd_bench.py [--mib 256] [--rounds 2]
Env: BERTH_BIN (default build/server/berth). Needs root, containerd and runc (Debian); socat
and haproxy are compared where installed.
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


def start_relays(home, guest_sock):
    """socat and HAProxy in front of the guest's socket, as a user would set them up; returns
    ({name: socket path}, [processes])."""
    socks, procs = {}, []
    if shutil.which("socat"):
        socks["socat"] = os.path.join(home, "socat.sock")
        procs.append(subprocess.Popen(["socat", "UNIX-LISTEN:%s,fork" % socks["socat"],
                                       "UNIX-CONNECT:" + guest_sock],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if shutil.which("haproxy"):
        socks["haproxy"] = os.path.join(home, "haproxy.sock")
        cfg = os.path.join(home, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("global\n    maxconn 4096\ndefaults\n    mode tcp\n    timeout connect 5s\n"
                    "    timeout client 10m\n    timeout server 10m\nlisten containerd\n"
                    "    bind unix@%s\n    server guest unix@%s\n" % (socks["haproxy"], guest_sock))
        procs.append(subprocess.Popen(["haproxy", "-db", "-f", cfg],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 10
    while not all(os.path.exists(p) for p in socks.values()):
        if time.monotonic() > deadline:
            raise SystemExit("a comparison relay did not open its socket: %s" % socks)
        time.sleep(0.05)
    return socks, procs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    profiles = Profiles()
    procs = []
    try:
        t0 = time.monotonic()
        profiles.start("--runtime", "containerd")
        boot = time.monotonic() - t0
        tarball = os.path.join(profiles.home, "big.tar")
        busybox_docker_archive(tarball, IMAGE, args.mib << 20)
        size = os.path.getsize(tarball) / (1 << 20)
        out = os.path.join(profiles.home, "out.tar")
        paths = {"berth": os.path.join(profiles.dir(), "containerd.sock"),
                 "relay": os.path.join(profiles.dir(), ".containerd.sock.berth"),
                 "direct": os.path.join(profiles.dir(), "guest", "engine.sock")}
        deadline = time.monotonic() + 10
        while not profiles.status()["containerdSocketDirect"]:
            if time.monotonic() > deadline:
                raise SystemExit("containerd.sock was not handed to containerd's socket")
            time.sleep(0.1)
        others, procs = start_relays(profiles.home, paths["direct"])
        paths.update(others)
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
        print("containerd socket: ctr images import (--no-unpack) / export of a %.0f MiB image "
              "(best of %d; guest booted in %.1fs; %d cores)" % (size, args.rounds, boot,
                                                                  os.cpu_count()))
        header = "%-8s %9s %9s %13s %9s %13s" % ("op", "direct s", "berth s", "direct/berth",
                                                  "relay s", "direct/relay")
        for name in others:
            header += " %9s %15s" % (name + " s", name + "/relay")
        print(header)
        for op in ("import", "export"):
            direct, berth, relay = best[op, "direct"], best[op, "berth"], best[op, "relay"]
            row = "%-8s %9.2f %9.2f %13.2f %9.2f %13.2f" % (op, direct, berth, direct / berth,
                                                            relay, direct / relay)
            for name in others:
                row += " %9.2f %15.2f" % (best[op, name], best[op, name] / relay)
            print(row + "   (direct %.0f, berth %.0f, relay %.0f MiB/s)"
                  % (size / direct, size / berth, size / relay))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        profiles.cleanup()


if __name__ == "__main__":
    main()
