"""An ns guest after crashes (issue 13 items 2 and 3): a dockerd that berth restarts after a
kill -9 finds its live-restored containers fully usable (exec, stats, logs, attach, stop),
because the guest's namespaces outlive any one dockerd; and `berth status`/`list` tell the
truth while the guest runs without its daemon."""
import json
import os
import signal
import subprocess
import time

from berth_harness import DOCKER
from berth_harness import wait_until as wait_for



def test_containers_are_fully_usable_after_dockerd_is_restarted(profiles):
    profiles.start()
    profiles.import_bb()
    d = lambda *a, **kw: profiles.docker("--context", "berth", *a, **kw)
    # Prints a line per second; reads stdin lines and echoes them back (for attach).
    d("run", "-d", "-i", "--name", "old", "bb", "sh", "-c",
      '(while :; do echo tick; sleep 1; done) & while read line; do echo "got $line"; done')
    old = profiles.dockerd_pid()
    os.kill(old, signal.SIGKILL)

    def restarted():
        p = d("ps", "--format", "{{.Names}}", check=False)
        return p.returncode == 0 and p.stdout.decode().split() == ["old"]

    wait_for(restarted, 60, "berth to restart dockerd")
    assert profiles.dockerd_pid() != old

    p = d("exec", "old", "echo", "hi", check=False)
    assert p.returncode == 0 and p.stdout.decode() == "hi\n", p.stderr.decode()

    stats = json.loads(d("stats", "--no-stream", "--format", "{{json .}}", "old").stdout)
    assert stats["PIDs"] not in ("0", "--"), stats
    assert not stats["MemUsage"].startswith("0B"), stats

    time.sleep(1.5)  # a line logged by the restarted engine's log reader too
    logs = d("logs", "--since", "2s", "old").stdout.decode()
    assert "tick" in logs, logs

    env = dict(profiles.env)
    attach = subprocess.Popen([DOCKER, "--context", "berth", "attach", "old"], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        time.sleep(1)
        attach.stdin.write(b"ping\n")
        attach.stdin.flush()
        line = b""
        deadline = time.monotonic() + 10
        while b"got ping" not in line and time.monotonic() < deadline:
            line = attach.stdout.readline()
        assert b"got ping" in line, line
    finally:
        attach.kill()
        attach.wait()

    d("stop", "-t", "1", "old")
    state = d("inspect", "-f", "{{.State.Status}}", "old").stdout.decode().strip()
    assert state == "exited"
    assert profiles.guest_processes() != []  # the guest itself still runs


def test_status_and_list_tell_the_truth_while_the_guest_runs_without_its_daemon(profiles):
    profiles.start()
    profiles.import_bb()
    d = lambda *a, **kw: profiles.docker("--context", "berth", *a, **kw)
    d("run", "-d", "--name", "orphan", "bb", "sleep", "600")
    os.kill(profiles.daemon_pid(), signal.SIGKILL)
    time.sleep(0.3)

    s = profiles.status()
    assert s["status"] == "Running" and not s["daemon"]["running"], s
    assert "berth start` adopts it" in s["guest"]["detail"], s
    p = profiles.berth("status", check=False)
    assert p.returncode == 1  # its socket does not answer: scripts must not use it
    assert "is running (daemon not running: `berth start` adopts it)" in p.stderr.decode()
    rows = [json.loads(l) for l in profiles.berth("list", "--json").stdout.decode().splitlines()]
    assert [r["status"] for r in rows] == ["Running (no daemon)"], rows
    assert "Running (no daemon)" in profiles.berth("list").stdout.decode()

    # Its dockerd dies too: the guest's namespaces (and the container) still run, and the next
    # start restarts dockerd in them instead of throwing them away.
    os.kill(profiles.dockerd_pid(), signal.SIGKILL)
    time.sleep(0.5)
    assert profiles.status()["status"] == "Running"
    err = profiles.berth("start").stderr.decode()
    assert "guest of an earlier daemon still running" in err, err
    assert d("exec", "orphan", "echo", "hi").stdout.decode() == "hi\n"
    assert profiles.status()["daemon"]["running"]

    profiles.berth("stop")
    s = profiles.status()
    assert s["status"] == "Stopped" and profiles.guest_processes() == [], s
