#!/usr/bin/env python3
"""Wake-on-connect benchmark (issue 18): time to first byte of one HTTP request (busybox httpd in
a container of a real dockerd in a network namespace) on four paths, printed as a table:

  cold wake       a berth.wake=true container, stopped: berth starts it, waits until its port
                  accepts, then relays (what a user's first request after a stop pays)
  idle guest      the same through an `ns` profile whose guest idle-stopped (--idle-stop 2s):
                  berth boots the guest, then wakes the container
  by name         in that profile, a request by name (`wkb-guest.default.berth.localhost` to
                  its names front) to the stopped container, with the guest up and idle-stopped
  cold wake, UDP  a berth.wake=true UDP echo server (the host's python3), stopped: from the
                  first datagram to its echo (berth starts it and waits until the container
                  bound its port, then delivers the datagram)
  awake (wake)    the same container once it runs (kernel DNAT on 127.0.0.1, as any forward)
  running         a plain running container through berth's forward
  direct          the same running container at the guest address (no berth)

Each round stops the wake container (docker stop, not timed) and sends one request to it, then
one request to each running path. A program, not a test: it prints numbers and judges none.

    BERTH_BIN=$PWD/build/server/berth python3 tests/bench/wake_bench.py [--rounds 10]
"""
import argparse
import os
import shutil
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from berth_harness import Berth, Engine, short_tmpdir  # noqa: E402
from forwarding_helpers import HTTPD, UDP_ECHO, read_status, wait_until  # noqa: E402
from profiles_helpers import Profiles  # noqa: E402

WAKE_PORT = 19590
RUN_PORT = 19591
GUEST_PORT = 19592
UDP_PORT = 19593


def ttfb(host, port, timeout=60, name="bench"):
    """Seconds from connect() to the first byte of the reply to one GET (the reply is checked)."""
    t = time.perf_counter()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(b"GET /index.html HTTP/1.0\r\nHost: %s\r\n\r\n" % name.encode())
        first = s.recv(1)
        elapsed = time.perf_counter() - t
        rest = first
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
    finally:
        s.close()
    if not rest.startswith(b"HTTP/1.") or b"hello-" not in rest:
        raise RuntimeError("unexpected reply on %s:%d: %r" % (host, port, rest[:200]))
    return elapsed


def first_echo(port, timeout=60):
    """Seconds from one datagram to 127.0.0.1:`port` to its echo."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        t = time.perf_counter()
        s.sendto(b"bench", ("127.0.0.1", port))
        data, _ = s.recvfrom(100)
        elapsed = time.perf_counter() - t
    finally:
        s.close()
    if data != b"bench":
        raise RuntimeError("unexpected echo on udp %d: %r" % (port, data))
    return elapsed


def wake_state(b, port):
    return {f.get("wake") for f in read_status(b).get("forwards", [])
            if f["host"] == "127.0.0.1:%d" % port}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--guest-rounds", type=int, default=5)
    args = parser.parse_args()

    engine = Engine("wkb-%d" % os.getpid(), short_tmpdir("wkb"))
    engine.start()
    d = short_tmpdir("wkbb")
    status = os.path.join(d, "forwards.json")
    berth = Berth(engine.url, dir=d, debug=False,
                  extra_args=["--forward-to", engine.guest_addr, "--forward-status", status])
    berth.status_path = status
    try:
        berth.start()
        wait_until(lambda: read_status(berth).get("engine") == "connected", 10, "engine")
        # --stop-timeout 1: httpd as PID 1 ignores SIGTERM; the stops are not timed anyway.
        berth.docker("create", "--name", "wkb-wake", "--label", "berth.wake=true",
                     "--stop-timeout", "1", "-p", "%d:80" % WAKE_PORT, "bb", *HTTPD)
        berth.docker("run", "-d", "--name", "wkb-run", "-p", "%d:80" % RUN_PORT, "bb", *HTTPD)
        berth.docker("create", "--name", "wkb-udp", "--label", "berth.wake=true",
                     "--stop-timeout", "1", "-p", "%d:80/udp" % UDP_PORT, "-v", "/:/host:ro",
                     "bb", *UDP_ECHO)
        wait_until(lambda: wake_state(berth, WAKE_PORT) == {"asleep"}, 10, "asleep")
        wait_until(lambda: _answers("127.0.0.1", RUN_PORT), 10, "running httpd")
        rows = {"cold wake": [], "cold wake, UDP": [], "awake (wake)": [], "running": [],
                "direct": []}
        for _ in range(args.rounds):
            berth.docker("stop", "wkb-wake")
            wait_until(lambda: wake_state(berth, WAKE_PORT) == {"asleep"}, 10, "asleep")
            rows["cold wake"].append(ttfb("127.0.0.1", WAKE_PORT))
            berth.docker("stop", "wkb-udp")
            wait_until(lambda: wake_state(berth, UDP_PORT) == {"asleep"}, 10, "udp asleep")
            rows["cold wake, UDP"].append(first_echo(UDP_PORT))
            # The kernel path takes over once the wake is done and nft applied it.
            time.sleep(0.3)
            rows["awake (wake)"].append(ttfb("127.0.0.1", WAKE_PORT))
            rows["running"].append(ttfb("127.0.0.1", RUN_PORT))
            rows["direct"].append(ttfb(engine.guest_addr, RUN_PORT))
        if args.guest_rounds > 0:
            rows.update(idle_guest_wakes(args.guest_rounds))
        paths = {f["host"]: f["path"] for f in read_status(berth).get("forwards", [])}
        print("time to first byte, busybox httpd, %d rounds (%d through the idle guest) (ms)"
          % (args.rounds, args.guest_rounds))
        print("| path | median | min | max |")
        print("|---|---:|---:|---:|")
        for name, values in rows.items():
            ms = [v * 1000 for v in values]
            print("| %s | %.1f | %.1f | %.1f |" % (name, statistics.median(ms), min(ms), max(ms)))
        print("forward paths: wake %s, running %s" % (paths.get("127.0.0.1:%d" % WAKE_PORT),
                                                      paths.get("127.0.0.1:%d" % RUN_PORT)))
    finally:
        berth.stop()
        engine.stop()
        berth.cleanup()
        shutil.rmtree(engine.dir, ignore_errors=True)


def idle_guest_wakes(rounds):
    """Seconds to the first byte of wakes in an `ns` profile with --idle-stop 2s, per round: by
    the wake port and by name through the idle-stopped guest, and by name with the guest up."""
    profiles = Profiles()
    rows = {"cold wake, guest idle-stopped": [], "cold wake by name, guest idle-stopped": [],
            "cold wake by name (container stopped, guest up)": []}
    sock = "unix://" + profiles.sock()
    name = "wkb-guest.default.berth.localhost"
    try:
        profiles.start("--idle-stop", "2s")
        profiles.import_bb()
        profiles.docker("create", "--name", "wkb-guest", "--label", "berth.wake=true",
                        "--label", "berth.http.port=80", "--stop-timeout", "1",
                        "-p", "%d:80" % GUEST_PORT, "bb", *HTTPD, host=sock)
        front = profiles.status()["domains"]["port"]
        down = lambda: profiles.status()["boot"]["state"] == "down"
        for _ in range(rounds):
            wait_until(down, 60, "idle stop")
            rows["cold wake, guest idle-stopped"].append(ttfb("127.0.0.1", GUEST_PORT))
            # The container runs, so the guest stays up: stop it (not timed), and wake it by
            # name before the guest's own idle stop comes.
            profiles.docker("stop", "wkb-guest", host=sock)
            time.sleep(0.5)
            rows["cold wake by name (container stopped, guest up)"].append(
                ttfb("127.0.0.1", front, name=name))
            profiles.docker("stop", "wkb-guest", host=sock)
            wait_until(down, 60, "idle stop")
            rows["cold wake by name, guest idle-stopped"].append(ttfb("127.0.0.1", front, name=name))
            profiles.docker("stop", "wkb-guest", host=sock)
    finally:
        profiles.cleanup()
    return rows


def _answers(host, port):
    try:
        ttfb(host, port, timeout=2)
        return True
    except (OSError, RuntimeError):
        return False


if __name__ == "__main__":
    main()
