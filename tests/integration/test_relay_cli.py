"""The real docker CLI through berth to a real dockerd (issue 2, "What it must show")."""
import json
import select
import subprocess
import time
import uuid

from berth_harness import DOCKER


def uid(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def test_requests_really_go_through_berth(berth, engine):
    assert berth.sock != engine.sock
    marker = uid("through")
    p = berth.docker("version", "--format", "{{.Server.Version}}")
    assert p.stdout.strip().startswith(b"20.10")
    berth.docker("ps", "-a", "--filter", "name=" + marker)
    log = berth.log_text()
    assert "GET /v" in log and "/version" in log
    assert "name%3D" + marker in log or marker in log, log[-2000:]


def test_version_info_ps_images(berth):
    v = json.loads(berth.docker("version", "--format", "{{json .}}").stdout)
    assert v["Server"]["Version"].startswith("20.10")
    info = json.loads(berth.docker("info", "--format", "{{json .}}").stdout)
    assert info["Driver"] and info["Images"] >= 1
    assert berth.docker("ps").returncode == 0
    images = berth.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode()
    assert "bb:latest" in images.split()


def test_run_rm_output_and_exit_codes(berth):
    p = berth.docker("run", "--rm", "bb", "echo", "ok")
    assert p.stdout == b"ok\n"
    for code in (0, 1, 3, 42, 255):
        p = berth.docker("run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2; exit %d" % code,
                         check=False)
        assert p.returncode == code, p
        assert p.stdout == b"out\n"
        assert p.stderr == b"err\n"


def test_logs_follow_streams_while_container_runs(berth):
    name = uid("logs")
    berth.docker("run", "-d", "--name", name, "bb", "sh", "-c",
                 "for i in 1 2 3 4 5 6; do echo line$i; sleep 1; done")
    try:
        p = subprocess.Popen([DOCKER, "logs", "-f", name], stdout=subprocess.PIPE,
                             env=berth.env())
        start = time.monotonic()
        first = p.stdout.readline()
        t_first = time.monotonic() - start
        second = p.stdout.readline()
        t_second = time.monotonic() - start
        rest = p.stdout.read()
        t_end = time.monotonic() - start
        assert p.wait(30) == 0
        assert first == b"line1\n" and second == b"line2\n"
        lines = (first + second + rest).split()
        assert lines == [b"line%d" % i for i in range(1, 7)]
        # The lines arrived one by one while the container ran (6 s), not all at its end; the
        # bounds are relative, as a loaded machine may take seconds to start the CLI.
        assert t_end - t_first > 3.0, (t_first, t_end)
        assert t_second < t_end - 2.0, (t_second, t_end)
    finally:
        berth.docker("rm", "-f", name, check=False)


def test_events_arrive_while_the_stream_stays_open(berth):
    name = uid("ev")
    p = subprocess.Popen([DOCKER, "events", "--format", "{{.Action}} {{.Actor.Attributes.name}}",
                          "--filter", "container=" + name], stdout=subprocess.PIPE,
                         env=berth.env())
    try:
        time.sleep(1.0)  # let the events request reach the engine
        berth.docker("create", "--name", name, "bb", "true")
        # The event is flushed at once, not held until more follow (none will): it arrives
        # while the stream stays open. 15 s is a hang's bound, not a latency claim.
        ready, _, _ = select.select([p.stdout], [], [], 15)
        assert ready, "no event 15 s after docker create"
        line = p.stdout.readline()
        assert line.decode().split() == ["create", name]
    finally:
        p.kill()
        p.wait()
        berth.docker("rm", "-f", name, check=False)


def test_wait_returns_exit_code(berth):
    name = uid("wait")
    berth.docker("run", "-d", "--name", name, "bb", "sh", "-c", "sleep 2; exit 7")
    try:
        t0 = time.monotonic()
        p = berth.docker("wait", name)
        assert p.stdout.strip() == b"7"
        assert time.monotonic() - t0 > 1.0
    finally:
        berth.docker("rm", "-f", name, check=False)


def test_stats_no_stream(berth):
    name = uid("stats")
    berth.docker("run", "-d", "--name", name, "bb", "sleep", "60")
    try:
        p = berth.docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", name,
                         timeout=60)
        out = p.stdout.decode().split()
        assert out[0] == name and "B" in out[1]
    finally:
        berth.docker("rm", "-f", name, check=False)


def test_attach_sees_output_and_exit_code(berth):
    name = uid("att")
    berth.docker("run", "-d", "--name", name, "bb", "sh", "-c",
                 "sleep 1; echo attached-out; echo attached-err >&2; exit 5")
    try:
        p = berth.docker("attach", name, check=False, timeout=30)
        assert p.stdout == b"attached-out\n", p
        assert p.stderr == b"attached-err\n", p
        assert p.returncode == 5
    finally:
        berth.docker("rm", "-f", name, check=False)


def test_attach_with_stdin(berth):
    name = uid("atti")
    berth.docker("run", "-d", "-i", "--name", name, "bb", "sh", "-c", "read x; echo got:$x")
    try:
        # Keep stdin open until the answer is back: the CLI ends its attach at stdin's EOF.
        p = subprocess.Popen([DOCKER, "attach", name], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=berth.env())
        p.stdin.write(b"hello\n")
        p.stdin.flush()
        assert p.stdout.readline() == b"got:hello\n"
        p.stdin.close()
        assert p.wait(30) == 0
    finally:
        berth.docker("rm", "-f", name, check=False)


def test_rm_force_running_container(berth):
    name = uid("rmf")
    berth.docker("run", "-d", "--name", name, "bb", "sleep", "600")
    assert berth.docker("rm", "-f", name).stdout.strip() == name.encode()
    p = berth.docker("inspect", name, check=False)
    assert p.returncode != 0 and b"No such" in p.stderr


def test_exec_stdin_half_close(berth):
    name = uid("exec")
    berth.docker("run", "-d", "--name", name, "bb", "sleep", "600")
    try:
        p = subprocess.run("echo hi | %s exec -i %s cat" % (DOCKER, name), shell=True,
                           env=berth.env(), capture_output=True, timeout=30)
        assert p.returncode == 0, p
        assert p.stdout == b"hi\n"
        p = berth.docker("exec", name, "sh", "-c", "exit 9", check=False)
        assert p.returncode == 9
    finally:
        berth.docker("rm", "-f", name, check=False)


def test_error_from_engine_passes_through(berth):
    p = berth.docker("inspect", "no-such-container-" + uuid.uuid4().hex[:6], check=False)
    assert p.returncode == 1 and b"No such" in p.stderr
    p = berth.docker("run", "--pull=never", "--rm", "no-such-image-xyz:nope", check=False,
                     timeout=60)
    assert p.returncode == 125
