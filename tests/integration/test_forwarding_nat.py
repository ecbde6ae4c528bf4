"""The kernel path of TCP forwards on 127.0.0.1 (forwarding/LoopbackNat.h), against a real
dockerd in a network namespace: an nftables DNAT berth keeps equal to its listeners.

Each test starts its own `berth daemon` on the module's engine. Host ports: 18600-18699.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.error

import pytest

from berth_harness import Berth, Engine, short_tmpdir
from forwarding_helpers import HTTPD, accepts, http_get, http_get_retry, read_status, wait_until


@pytest.fixture(scope="module")
def engine():
    e = Engine("fwdnat-%d" % os.getpid(), short_tmpdir("fwdnat"))
    e.start()
    yield e
    e.stop()
    shutil.rmtree(e.dir, ignore_errors=True)


@pytest.fixture
def daemons(engine):
    """Starts `berth daemon`s forwarding to the engine; stops them and the containers after."""
    started = []

    def start(*extra, sock=None):
        d = short_tmpdir("fwdnatb")
        status = os.path.join(d, "forwards.json")
        b = Berth(engine.url, dir=d, sock=sock, extra_args=[
            "--forward-to", engine.guest_addr, "--forward-status", status] + list(extra))
        b.status_path = status
        b.start()
        started.append(b)
        wait_until(lambda: read_status(b).get("engine") == "connected", 10, "engine connected")
        return b

    yield start
    for b in started:
        if b.proc.poll() is None:
            os.kill(b.proc.pid, signal.SIGCONT)
        b.stop()
        b.cleanup()
    ids = engine.docker("ps", "-aq").stdout.decode().split()
    if ids:
        engine.docker("rm", "-f", *ids, check=False)


def paths_of(b):
    return {f["host"]: f["path"] for f in read_status(b).get("forwards", [])}


def nat_table(b):
    """The table and device of the kernel path, once berth's worker has opened it."""
    wait_until(lambda: not read_status(b).get("nat", "opening").startswith("opening"), 5,
               "the kernel path to open")
    m = re.search(r"table (\S+) via (\S+)\)", read_status(b).get("nat", ""))
    assert m, "no kernel path: %s" % read_status(b).get("nat")
    return m.group(1), m.group(2)


def nft_tables():
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return set(re.findall(r"^table ip (\S+)$", out, re.M))


def route_localnet(device):
    with open("/proc/sys/net/ipv4/conf/%s/route_localnet" % device) as f:
        return f.read().strip()


def times_out(host, port):
    try:
        http_get(host, port, timeout=1)
    except (TimeoutError, socket.timeout):
        return True
    except urllib.error.URLError as e:
        return isinstance(e.reason, (TimeoutError, socket.timeout))
    return False


def run_web(engine, name, port):
    engine.docker("run", "-d", "--name", name, "-p", "%d:80" % port, "bb", *HTTPD)


def test_127_is_served_by_the_kernel_even_while_berth_is_frozen(engine, daemons):
    b = daemons()
    run_web(engine, "web", 18601)
    wait_until(lambda: paths_of(b) == {"127.0.0.1:18601": "kernel", "[::1]:18601": "relay"},
               5, "forwards of 18601 with their paths")
    assert read_status(b)["nat"].startswith("kernel DNAT")
    page = http_get_retry("127.0.0.1", 18601)
    assert page.startswith("hello-")
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        assert http_get("127.0.0.1", 18601, timeout=3) == page  # no byte crosses berth
        assert times_out("::1", 18601)  # ::1 is berth's relay: frozen with it
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    assert http_get("::1", 18601) == page


def test_no_forward_nat_relays_127_through_berth(engine, daemons):
    b = daemons("--no-forward-nat")
    run_web(engine, "web", 18602)
    wait_until(lambda: paths_of(b) == {"127.0.0.1:18602": "relay", "[::1]:18602": "relay"},
               5, "relayed forwards of 18602")
    assert read_status(b)["nat"] == "off"
    assert http_get_retry("127.0.0.1", 18602).startswith("hello-")
    assert not any(t.startswith("berth_d") and t.endswith("_p%d" % b.proc.pid)
                   for t in nft_tables())
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        assert times_out("127.0.0.1", 18602)
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)


def test_stop_deletes_the_table_and_restores_route_localnet(engine, daemons):
    before = route_localnet(engine.veth)
    b = daemons()
    table, device = nat_table(b)
    assert device == engine.veth
    assert table in nft_tables()
    assert route_localnet(device) == "1"
    run_web(engine, "web", 18603)
    wait_until(lambda: paths_of(b).get("127.0.0.1:18603") == "kernel", 5, "kernel forward 18603")
    # docker stop: the map entry goes with the listener, so the port refuses at once.
    engine.docker("stop", "-t", "0", "web")
    wait_until(lambda: not accepts("127.0.0.1", 18603), 10, "18603 refused after stop")
    assert b.stop() == 0
    assert table not in nft_tables()
    assert route_localnet(device) == before


def test_a_container_sent_term_is_relayed_until_it_dies_and_kernel_again_after_start(engine,
                                                                                      daemons):
    b = daemons()
    # PID 1 without a TERM handler: the kernel drops the signal, so the container keeps running.
    engine.docker("run", "-d", "--name", "slow", "-p", "18607:80", "bb", "sh", "-c",
                  "echo hello-slow > /tmp/index.html; httpd -f -p 80 -h /tmp & wait")
    wait_until(lambda: paths_of(b).get("127.0.0.1:18607") == "kernel", 5, "kernel path")
    engine.docker("kill", "-s", "TERM", "slow")
    wait_until(lambda: paths_of(b).get("127.0.0.1:18607") == "relay", 5,
               "the relay to take the port over at the kill event")
    assert http_get_retry("127.0.0.1", 18607) == "hello-slow\n"  # still served, by berth
    engine.docker("kill", "slow")
    wait_until(lambda: not accepts("127.0.0.1", 18607), 10, "18607 refused after die")
    engine.docker("start", "slow")
    wait_until(lambda: paths_of(b).get("127.0.0.1:18607") == "kernel", 5, "kernel path again")
    assert http_get_retry("127.0.0.1", 18607) == "hello-slow\n"


def test_a_killed_daemons_forwards_keep_working_until_its_successor_replaces_them(engine,
                                                                                  daemons):
    first = daemons()
    table, _ = nat_table(first)
    run_web(engine, "web", 18604)
    wait_until(lambda: paths_of(first).get("127.0.0.1:18604") == "kernel", 5, "kernel forward")
    page = http_get_retry("127.0.0.1", 18604)
    first.stop(signal.SIGKILL)
    # The kernel keeps forwarding for the containers that still run: nothing is cut.
    assert table in nft_tables()
    assert http_get("127.0.0.1", 18604) == page
    engine.docker("rm", "-f", "web")
    # The next daemon on that socket drops the dead one's table before it makes its own.
    second = daemons(sock=first.sock)
    new_table, _ = nat_table(second)
    assert table not in nft_tables() and new_table in nft_tables()
    assert not accepts("127.0.0.1", 18604)
    assert paths_of(second) == {}
    # The dead daemon left route_localnet on; the successor restores what the first one found.
    assert second.stop() == 0
    assert route_localnet(engine.veth) == "0"


def test_a_map_berth_cannot_update_falls_back_to_the_relay(engine, daemons):
    b = daemons()
    table, device = nat_table(b)
    subprocess.run(["nft", "delete", "table", "ip", table], check=True)  # behind berth's back
    run_web(engine, "web", 18605)
    wait_until(lambda: read_status(b).get("nat", "").startswith("off: nft: "), 5,
               "the kernel path given up")
    assert paths_of(b) == {"127.0.0.1:18605": "relay", "[::1]:18605": "relay"}
    assert http_get_retry("127.0.0.1", 18605).startswith("hello-")
    assert route_localnet(device) == "0"  # restored when the kernel path was given up


def test_a_port_on_the_guests_loopback_without_its_namespace_is_refused_once(engine, daemons):
    b = daemons()  # no --forward-netns: berth cannot reach inside the guest
    engine.docker("run", "-d", "--name", "lo4", "-p", "127.0.0.1:18606:80", "bb", *HTTPD)
    wait_until(lambda: read_status(b).get("refused"), 5, "a refused forward in the status")
    [refused] = [c for c in read_status(b)["refused"] if c["host"] == "127.0.0.1:18606"]
    assert refused["error"] == ("published on the guest's loopback only (127.0.0.1), which this "
                                "driver cannot reach from the host; publish it on 0.0.0.0")
    assert refused["container"] == "lo4", refused
    # It can never open: no conflict retried every second.
    assert [c for c in read_status(b)["conflicts"] if c["host"].endswith(":18606")] == []
    assert not accepts("127.0.0.1", 18606)


def test_the_guest_cannot_reach_host_loopback_through_route_localnet(engine, daemons):
    """route_localnet lets 127.0.0.1 packets cross the host's veth. Without the table's guard,
    a guest that routes 127.0.0.1 to the host reaches the host's loopback-only services."""
    b = daemons()
    table, device = nat_table(b)
    service = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    service.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    service.bind(("127.0.0.1", 18650))
    service.listen(8)
    ns = ["ip", "-n", engine.netns]
    guest_dev = subprocess.run(ns + ["-o", "route", "get", engine.host_addr], capture_output=True,
                               text=True, check=True).stdout.split(" dev ")[1].split()[0]
    setup = [["rule", "add", "pref", "1", "lookup", "local"], ["rule", "del", "pref", "0"],
             ["route", "add", "127.0.0.1/32", "via", engine.host_addr, "dev", guest_dev, "src",
              engine.guest_addr, "table", "77"],
             ["rule", "add", "pref", "0", "to", "127.0.0.1/32", "lookup", "77"]]
    undo = [["rule", "del", "pref", "0"], ["route", "flush", "table", "77"],
            ["rule", "add", "pref", "0", "lookup", "local"], ["rule", "del", "pref", "1"]]
    localnet = "/proc/sys/net/ipv4/conf/%s/route_localnet" % guest_dev
    attack = ["nsenter", "--net=/var/run/netns/" + engine.netns, "python3", "-c",
              "import socket; socket.create_connection(('127.0.0.1', 18650), timeout=2)"]
    try:
        for args in setup:
            subprocess.run(ns + args, check=True)
        subprocess.run(["nsenter", "--net=/var/run/netns/" + engine.netns, "sh", "-c",
                        "echo 1 > " + localnet], check=True)
        assert subprocess.run(attack, capture_output=True).returncode != 0, \
            "the guest reached the host's 127.0.0.1:18650"
        # The control: without the guard chain the same attempt gets through.
        subprocess.run(["nft", "flush chain ip %s guard; delete chain ip %s guard" % (table, table)],
                       check=True)
        assert subprocess.run(attack, capture_output=True).returncode == 0
    finally:
        service.close()
        subprocess.run(["nsenter", "--net=/var/run/netns/" + engine.netns, "sh", "-c",
                        "echo 0 > " + localnet])
        for args in undo:
            subprocess.run(ns + args)
