"""Boot on demand, idle stop, engine supervision and crash recovery of a profile daemon
(ns driver), through the real docker CLI."""
import concurrent.futures
import os
import signal
import time

from profiles_helpers import netns_exists
from berth_harness import wait_until as wait_for



def test_lazy_boot_20_concurrent_requests_one_engine(profiles):
    profiles.start("--lazy")
    state_dir = os.path.join(profiles.dir(), "guest")
    s = profiles.status()
    assert s["boot"]["state"] == "down" and s["boot"]["boots"] == 0
    assert profiles.guest_processes() == [], "dockerd runs before any request"
    assert not netns_exists(profiles.netns())

    host = "unix://" + profiles.sock()

    def ps(_):
        started = time.monotonic()
        p = profiles.docker("ps", host=host, check=False, timeout=120)
        return p.returncode, p.stderr.decode(), time.monotonic() - started

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(ps, range(20)))
    total = time.monotonic() - t0
    assert [r[0] for r in results] == [0] * 20, [r[1] for r in results if r[0]]
    s = profiles.status()
    assert s["boot"]["boots"] == 1 and s["boot"]["state"] == "up"
    with open(os.path.join(state_dir, "dockerd.log")) as f:
        assert f.read().count("API listen on") == 1, "more than one dockerd was started"
    print("\nlazy boot: first request answered after %.2fs (fastest %.2fs, slowest %.2fs; "
          "20 requests in %.2fs; guest boot %.2fs)" % (
              min(r[2] for r in results), min(r[2] for r in results),
              max(r[2] for r in results), total, s["boot"]["lastBootSeconds"]))


def test_idle_stop_then_next_request_boots_again(profiles):
    profiles.start("--idle-stop", "2s")
    assert profiles.status()["boot"]["state"] == "up"
    t0 = time.monotonic()
    wait_for(lambda: profiles.status()["boot"]["state"] == "down", 30, "the idle stop")
    print("\nidle stop: guest stopped %.1fs after start (idle-stop 2s)" % (time.monotonic() - t0))
    assert profiles.guest_processes() == []
    assert profiles.status()["boot"]["idleStops"] == 1
    assert profiles.berth("status").returncode == 0  # the daemon still listens
    t1 = time.monotonic()
    profiles.docker("ps", host="unix://" + profiles.sock())
    print("idle stop: next docker ps booted the guest and answered in %.2fs" % (time.monotonic() - t1))
    s = profiles.status()
    assert s["boot"]["boots"] == 2 and s["status"] == "Running"


def test_idle_stop_waits_for_running_containers(profiles):
    profiles.start("--idle-stop", "1s")
    profiles.import_bb()
    profiles.docker("--context", "berth", "run", "-d", "--name", "busy", "bb", "sleep", "300")
    time.sleep(4)
    assert profiles.status()["boot"]["state"] == "up", "stopped with a container running"
    profiles.docker("--context", "berth", "rm", "-f", "busy")
    wait_for(lambda: profiles.status()["boot"]["state"] == "down", 30, "the idle stop")


def test_kill_9_daemon_then_start_recovers_with_containers(profiles):
    profiles.start()
    profiles.import_bb()
    profiles.docker("--context", "berth", "run", "-d", "--name", "survivor", "bb", "sleep", "300")
    dockerd = profiles.dockerd_pid()
    os.kill(profiles.daemon_pid(), signal.SIGKILL)
    time.sleep(0.3)
    assert profiles.berth("status", check=False).returncode == 1
    p = profiles.berth("start")
    err = p.stderr.decode()
    assert "cleaned up after a daemon that did not exit cleanly" in err
    assert "reusing it" in err
    assert profiles.dockerd_pid() == dockerd
    names = profiles.docker("--context", "berth", "ps", "--format", "{{.Names}} {{.Status}}").stdout
    assert names.decode().startswith("survivor Up")


def test_kill_9_guest_dockerd_is_restarted(profiles):
    profiles.start()
    profiles.import_bb()
    profiles.docker("--context", "berth", "run", "-d", "--name", "keeps", "bb", "sleep", "300")
    old = profiles.dockerd_pid()
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)
    saw_503 = []

    def answers():
        p = profiles.docker("--context", "berth", "ps", "--format", "{{.Names}}", check=False)
        if p.returncode != 0:
            saw_503.append(p.stderr.decode())
        return p.returncode == 0 and p.stdout.decode().split() == ["keeps"]

    wait_for(answers, 30, "docker ps after dockerd was killed")
    print("\ndockerd kill -9: docker ps answered again after %.2fs" % (time.monotonic() - t0))
    for message in saw_503:
        assert "not ready" in message or "Cannot connect" not in message, message
    s = profiles.status()
    assert s["status"] == "Running" and "restarted" in s["guest"]["detail"]
    assert profiles.dockerd_pid() != old


def test_failed_boot_answers_503_pointing_at_the_log(profiles):
    # A "dockerd" that exits at once: the boot fails, and every waiting request is told why.
    env = dict(profiles.env, BERTH_DOCKERD="/bin/false")
    profiles.berth("start", "--vm-type", "ns", "--lazy", env=env)
    host = "unix://" + profiles.sock()

    def ps(_):
        return profiles.docker("ps", host=host, check=False, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        results = list(pool.map(ps, range(5)))
    log = os.path.join(profiles.dir(), "daemon.log")
    for p in results:
        assert p.returncode != 0
        err = p.stderr.decode()
        assert "failed to boot" in err and log in err, err
    s = profiles.status()
    assert s["boot"]["boots"] == 1 and s["boot"]["state"] == "down"
    assert "dockerd exited" in s["boot"]["lastError"]
    assert profiles.guest_processes() == [] and not netns_exists(profiles.netns())
    # The HTTP status itself is 503, with a Docker-shaped body.
    import http.client
    import json
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(profiles.sock())

    conn = UnixConnection("berth")
    conn.request("GET", "/v1.41/_ping")
    reply = conn.getresponse()
    assert reply.status == 503
    assert log in json.loads(reply.read())["message"]
    profiles.berth("stop")


def test_failed_boot_fails_start_and_leaves_nothing_running(profiles):
    env = dict(profiles.env, BERTH_DOCKERD="/bin/false")
    p = profiles.berth("start", "--vm-type", "ns", env=env, check=False)
    assert p.returncode == 1
    last = p.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("berth: ") and "failed to boot" in last, last
    assert "(see " + profiles.dir() + "/" in last and last.endswith(".log)"), last
    assert profiles.berth("status", check=False).returncode == 1
    assert profiles.guest_processes() == [] and not netns_exists(profiles.netns())
