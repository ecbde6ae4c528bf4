"""Wake on first connection (issue 18, README "Wake on first connection") against a real dockerd
in a network namespace: a container labelled berth.wake=true keeps its published host ports
while it is stopped, and the first connection (or datagram) starts it and is then served.

One `berth daemon` forwards for the module (kernel DNAT on 127.0.0.1 while a container is awake,
berth's relay while it sleeps or wakes). Host ports: 19500-19599.
"""
import json
import os
import re
import shutil
import socket
import threading
import time
import urllib.error

import pytest

from berth_harness import Berth, short_tmpdir
from forwarding_helpers import HTTPD, UDP_ECHO, http_get, read_status, wait_until


@pytest.fixture(scope="module")
def wk(engine):
    d = short_tmpdir("wake")
    status = os.path.join(d, "forwards.json")
    b = Berth(engine.url, dir=d, extra_args=["--forward-to", engine.guest_addr,
                                             "--forward-status", status])
    b.status_path = status
    b.engine = engine
    b.start()
    wait_until(lambda: read_status(b).get("engine") == "connected", 10, "engine connected")
    yield b
    ids = engine.docker("ps", "-aq", "--filter", "label=berth.test=wake").stdout.decode().split()
    if ids:
        engine.docker("rm", "-f", *ids, check=False)
    code = b.stop()
    b.cleanup()
    assert code == 0, "berth daemon exited %s on SIGTERM" % code


def wake_states(b, port):
    """{host: wake state} of the forwards of host port `port`."""
    return {f["host"]: f.get("wake") for f in read_status(b).get("forwards", [])
            if f["host"].endswith(":%d" % port)}


def wait_asleep(b, port, timeout=10):
    wait_until(lambda: set(wake_states(b, port).values()) == {"asleep"}, timeout,
               "port %d held asleep (status: %s)" % (port, wake_states(b, port)))


def running(b, name):
    out = b.engine.docker("inspect", "-f", "{{.State.Running}}", name).stdout.decode().strip()
    return out == "true"


def port_bindings(b, name):
    """The container's HostConfig.PortBindings, as the engine keeps them."""
    return json.loads(b.engine.docker("inspect", "-f", "{{json .HostConfig.PortBindings}}",
                                      name).stdout)


def create_web(b, name, port, *labels, stop_timeout=10):
    args = ["create", "--name", name, "--label", "berth.test=wake", "-p", "%d:80" % port,
            "--stop-timeout", str(stop_timeout)]
    for label in ("berth.wake=true",) + labels:
        args += ["--label", label]
    b.docker(*(args + ["bb"] + HTTPD))


def test_first_request_after_stop_is_answered_on_both_loopbacks(wk):
    create_web(wk, "wk1", 19501)
    wait_asleep(wk, 19501)
    assert wake_states(wk, 19501) == {"127.0.0.1:19501": "asleep", "[::1]:19501": "asleep"}
    assert not running(wk, "wk1")
    t = time.monotonic()
    assert http_get("127.0.0.1", 19501, timeout=30).startswith("hello-")
    first = time.monotonic() - t
    assert running(wk, "wk1")
    wait_until(lambda: set(wake_states(wk, 19501).values()) == {"awake"}, 5, "awake")
    assert http_get("::1", 19501).startswith("hello-")
    assert "wk1 is awake after" in wk.log_text()
    # Stopped by hand, it sleeps again with its ports held, and wakes again.
    wk.docker("stop", "-t", "1", "wk1")
    wait_asleep(wk, 19501)
    assert http_get("::1", 19501, timeout=30).startswith("hello-")
    print("first byte of a cold wake: %.0f ms" % (first * 1000))


def test_32_concurrent_first_connections_are_all_answered(wk):
    create_web(wk, "wk2", 19502)
    wait_asleep(wk, 19502)
    answers, errors = [], []

    def get():
        try:
            answers.append(http_get("127.0.0.1", 19502, timeout=30))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(repr(e))

    threads = [threading.Thread(target=get) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    assert errors == []
    assert len(answers) == 32 and all(a.startswith("hello-") for a in answers)
    # One wake served them all.
    assert wk.log_text().count("waking wk2 ") == 1


def test_idle_puts_it_back_to_sleep_and_the_next_connection_wakes_it(wk):
    # httpd as PID 1 ignores SIGTERM: the stop ends at the container's own stop timeout.
    create_web(wk, "wk3", 19503, "berth.idle=3s", stop_timeout=1)
    wait_asleep(wk, 19503)
    assert http_get("127.0.0.1", 19503, timeout=30).startswith("hello-")
    # An open connection counts as use: not stopped while it lasts.
    held = socket.create_connection(("127.0.0.1", 19503), timeout=5)
    time.sleep(4)
    assert running(wk, "wk3")
    held.close()
    t = time.monotonic()
    wait_until(lambda: not running(wk, "wk3"), 12, "the idle stop")
    assert 2 <= time.monotonic() - t <= 6
    wait_asleep(wk, 19503)
    assert "wk3: no connection for 3000 ms (berth.idle): stopping it" in wk.log_text()
    assert http_get("127.0.0.1", 19503, timeout=30).startswith("hello-")
    assert running(wk, "wk3")


def test_compose_labels_wake_a_service(wk, tmp_short):
    """Its fixed port and an engine-chosen one (`ports: ['80']`, fixed by berth at the create)
    are both held while it sleeps."""
    with open(os.path.join(tmp_short, "docker-compose.yml"), "w") as f:
        f.write("version: '2.4'\nservices:\n"
                "  web:\n    image: bb\n    command: %s\n    ports: ['19510:80', '80']\n"
                "    labels:\n      berth.wake: 'true'\n      berth.test: wake\n"
                % json.dumps(HTTPD).replace("$", "$$"))
    wk.compose("-p", "wkc", "up", "-d", cwd=tmp_short)
    try:
        bindings = port_bindings(wk, "wkc_web_1")
        host_ports = sorted(b["HostPort"] for b in bindings["80/tcp"])
        assert len(host_ports) == 2 and "19510" in host_ports, bindings
        picked = int(next(p for p in host_ports if p != "19510"))
        wk.compose("-p", "wkc", "stop", "-t", "1", cwd=tmp_short)
        wait_asleep(wk, 19510)
        wait_asleep(wk, picked)
        assert http_get("127.0.0.1", picked, timeout=30).startswith("hello-")
        assert running(wk, "wkc_web_1")
        assert http_get("127.0.0.1", 19510, timeout=10).startswith("hello-")
    finally:
        wk.compose("-p", "wkc", "down", "-t", "0", cwd=tmp_short)
    wait_until(lambda: wake_states(wk, 19510) == {}, 10, "the ports of a removed service closed")


def test_bad_labels_are_logged_and_a_wake_past_its_timeout_resets(wk):
    create_web(wk, "wk4", 19504, "berth.wake.timeout=soon", "berth.idle=forever")
    wait_asleep(wk, 19504)
    log = wk.log_text()
    assert 'container wk4: label berth.wake.timeout="soon" is not a duration above 0' in log
    assert 'container wk4: label berth.idle="forever" is not a duration' in log
    assert http_get("127.0.0.1", 19504, timeout=30).startswith("hello-")  # default timeout

    wk.docker("create", "--name", "wk5", "--label", "berth.test=wake", "--label",
              "berth.wake=maybe", "-p", "19505:80", "bb", *HTTPD)
    wait_until(lambda: 'wk5: label berth.wake="maybe" is not true or false' in wk.log_text(), 10,
               "the bad berth.wake value logged")
    assert wake_states(wk, 19505) == {}  # not held: it does not wake

    # Never listens: after berth.wake.timeout the waiting client gets a reset.
    wk.docker("create", "--name", "wk6", "--label", "berth.test=wake", "--label",
              "berth.wake=true", "--label", "berth.wake.timeout=1s", "-p", "19506:80", "bb",
              "sleep", "600")
    wait_asleep(wk, 19506)
    t = time.monotonic()
    with pytest.raises((ConnectionResetError, urllib.error.URLError, ConnectionError)):
        http_get("127.0.0.1", 19506, timeout=30)
    assert time.monotonic() - t < 5
    # Which wait ran out depends on how fast the engine starts it on a loaded machine.
    assert re.search(r"could not wake wk6 after \d+ ms: (port 19506 did not accept|the engine did "
                     r"not start it) within 1000 ms \(berth.wake.timeout\); its waiting "
                     r"connections are reset", wk.log_text()), wk.log_text()[-2000:]
    assert wk.proc.poll() is None


def test_first_udp_datagram_wakes_the_container_and_is_answered(wk):
    """The first datagram starts the container. Its server binds 2 s after its start: the wake
    waits until the port is bound in the container's network namespace, so that one datagram,
    sent while it slept, is answered."""
    late_echo = list(UDP_ECHO)
    late_echo[-1] = "import time\ntime.sleep(2)\n" + late_echo[-1]
    wk.docker("create", "--name", "wk7", "--label", "berth.test=wake", "--label",
              "berth.wake=true", "-p", "19507:80/udp", "-v", "/:/host:ro", "bb", *late_echo)
    wait_asleep(wk, 19507)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(40)
    try:
        t = time.monotonic()
        s.sendto(b"first", ("127.0.0.1", 19507))
        try:
            data, _ = s.recvfrom(100)
        except socket.timeout:
            pytest.fail("the first datagram was lost: " + wk.log_text()[-1500:])
        assert data == b"first"
        assert time.monotonic() - t >= 2, "answered before the server could have bound"
    finally:
        s.close()
    assert re.search(r"wk7 is awake after \d+ ms \(udp port 80 is bound\)", wk.log_text())


def test_a_udp_port_bound_on_loopback_only_is_not_ready(wk):
    """A server bound to the container's 127.0.0.1 is out of reach of the forwarded datagrams:
    the wake does not count it as bound, and ends at berth.wake.timeout saying so."""
    loopback = list(UDP_ECHO)
    loopback[-1] = loopback[-1].replace("'0.0.0.0'", "'127.0.0.1'")
    assert "'127.0.0.1'" in loopback[-1]
    wk.docker("create", "--name", "wk7lo", "--label", "berth.test=wake", "--label",
              "berth.wake=true", "--label", "berth.wake.timeout=3s", "-p", "19509:80/udp",
              "-v", "/:/host:ro", "bb", *loopback)
    wait_asleep(wk, 19509)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"first", ("127.0.0.1", 19509))
        wait_until(lambda: "could not wake wk7lo" in wk.log_text(), 30, "the wake of wk7lo to end")
    finally:
        s.close()
    log = wk.log_text()
    wk.docker("rm", "-f", "wk7lo")  # frees its name and port for the tests after it
    assert re.search(r"could not wake wk7lo after \d+ ms: udp port 80 was not bound within 3000 ms",
                     log), log[-2000:]
    assert "wk7lo is awake" not in log


def test_engine_chosen_ports_of_a_wake_container_are_fixed_at_create(wk):
    """`-p 80` and `-P --expose 8081` leave the host ports to the engine, unknown while the
    container sleeps: berth picks them in the create, so they are held and wake it."""
    wk.docker("create", "--name", "wk8", "--label", "berth.test=wake", "--label",
              "berth.wake=true", "-p", "80", "--expose", "8081", "-P", "bb", *HTTPD)
    bindings = port_bindings(wk, "wk8")
    ports = {key: [b["HostPort"] for b in value] for key, value in bindings.items()}
    assert set(ports) == {"80/tcp", "8081/tcp"}, ports
    assert all(len(p) == 1 and p[0].isdigit() for p in ports.values()), ports
    web, other = int(ports["80/tcp"][0]), int(ports["8081/tcp"][0])
    assert web != other
    wait_asleep(wk, web)
    wait_asleep(wk, other)
    assert http_get("127.0.0.1", web, timeout=30).startswith("hello-")
    assert running(wk, "wk8")
    # A container without the label keeps the engine's choice.
    wk.docker("create", "--name", "wk9", "--label", "berth.test=wake", "-p", "80", "bb", *HTTPD)
    plain = port_bindings(wk, "wk9")
    assert plain == {"80/tcp": [{"HostIp": "", "HostPort": ""}]}, plain


def test_ports_only_its_image_exposes_do_not_wake_and_the_status_names_the_fix(wk):
    """`-P` with ports only the image EXPOSEs: the create body names none (the docker CLI leaves
    them to the engine), so the create filter cannot fix them, and the engine picks new host
    ports at each start. Nothing is held while it sleeps, and the status says so, naming
    `-p HOST:CONTAINER`."""
    wk.engine.docker("create", "--name", "wk10base", "bb", "true")
    wk.engine.docker("commit", "--change", "EXPOSE 80", "wk10base", "bb-expose80")
    wk.engine.docker("rm", "wk10base")
    try:
        wk.docker("create", "--name", "wk10", "--label", "berth.test=wake", "--label",
                  "berth.wake=true", "-P", "bb-expose80", *HTTPD)
        assert port_bindings(wk, "wk10") in ({}, None)

        def problem():
            for p in read_status(wk).get("wakeProblems", []):
                if p["container"] == "wk10":
                    return p["problem"]
            return None

        wait_until(lambda: problem() is not None, 10, "a wake problem for wk10 (log: %s)"
                   % [l for l in wk.log_text().splitlines() if "wk10" in l or "wake" in l][-12:])
        assert "-P publishes the ports its image exposes" in problem(), problem()
        assert problem().endswith("publish with -p HOST:CONTAINER"), problem()
        assert "wk10: berth.wake=true, but it publishes no fixed host port" in wk.log_text()
        assert [f for f in read_status(wk)["forwards"] if f["container"] == "wk10"] == []
        # Started by hand, it is forwarded on the port the engine picked, as any container.
        wk.docker("start", "wk10")
        wait_until(lambda: [f for f in read_status(wk)["forwards"] if f["container"] == "wk10"],
                   10, "wk10 forwarded while it runs")
        forwards = [f for f in read_status(wk)["forwards"] if f["container"] == "wk10"]
        port = int(forwards[0]["host"].rsplit(":", 1)[1])
        assert http_get("127.0.0.1", port, timeout=30).startswith("hello-")
        wk.docker("rm", "-f", "wk10")
        wait_until(lambda: problem() is None, 10, "the problem gone with the container")
    finally:
        wk.engine.docker("rm", "-f", "wk10", check=False)
        wk.engine.docker("rmi", "bb-expose80", check=False)


def test_a_wake_port_boots_an_idle_stopped_guest(profiles):
    """An `ns` profile with --idle-stop: the guest stops with the wake container asleep, its
    port stays open, and a connection boots the guest, then wakes the container."""
    profiles.start("--idle-stop", "2s")
    profiles.import_bb()
    profiles.docker("create", "--name", "pw", "--label", "berth.wake=true", "-p", "19520:80",
                    "bb", *HTTPD, host="unix://" + profiles.sock())

    def state():
        return {f["host"]: f.get("wake") for f in profiles.status().get("forwards", [])}

    wait_until(lambda: state().get("127.0.0.1:19520") == "asleep", 10, "the port held")
    wait_until(lambda: profiles.status()["boot"]["state"] == "down", 30, "the guest's idle stop")
    assert state() == {"127.0.0.1:19520": "asleep", "[::1]:19520": "asleep"}
    # Counted from here: under load the set-up's own pauses may have idle-stopped it already.
    boots = profiles.status()["boot"]["boots"]
    t = time.monotonic()
    assert http_get("127.0.0.1", 19520, timeout=60).startswith("hello-")
    print("first byte through an idle-stopped guest: %.0f ms" % ((time.monotonic() - t) * 1000))
    s = profiles.status()
    assert s["boot"]["boots"] == boots + 1 and s["boot"]["state"] == "up"
