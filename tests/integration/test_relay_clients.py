"""Other real clients through berth: docker-compose 1.29, docker-py, dockerode."""
import json
import os
import time
import uuid

from berth_harness import ROOT, recv_until_eof, run

NODE_DIR = os.path.join(ROOT, "tests", "integration", "node")

COMPOSE_FILE = """\
version: "2.4"
services:
  web:
    image: bb
    command: ["sh", "-c", "echo web-ready; while true; do echo -e 'HTTP/1.0 200 OK\\\\r\\\\n\\\\r\\\\nhello' | nc -l -p 8080; done"]
  client:
    image: bb
    depends_on: [web]
    command: ["sh", "-c", "sleep 1; wget -q -O - http://web:8080/ && echo; echo client-done; sleep 600"]
"""


def test_compose_up_ps_logs_down(berth, tmp_short):
    project = "bc" + uuid.uuid4().hex[:6]
    path = os.path.join(tmp_short, "docker-compose.yml")
    with open(path, "w") as f:
        f.write(COMPOSE_FILE)
    args = ["-f", path, "-p", project]
    try:
        berth.compose(*args, "up", "-d", timeout=180)
        ps = berth.compose(*args, "ps").stdout.decode()
        assert "%s_web_1" % project in ps and "%s_client_1" % project in ps
        assert ps.count("Up") == 2, ps
        deadline = time.monotonic() + 30
        logs = ""
        while time.monotonic() < deadline:
            logs = berth.compose(*args, "logs", "--no-color").stdout.decode()
            if "client-done" in logs:
                break
            time.sleep(0.5)
        assert "web-ready" in logs
        assert "hello" in logs and "client-done" in logs, logs  # the services talked
    finally:
        berth.compose(*args, "down", "-t", "1", timeout=180)
    left = berth.docker("ps", "-a", "--filter", "label=com.docker.compose.project=" + project,
                        "-q").stdout
    assert left == b""
    nets = berth.docker("network", "ls", "--filter", "name=" + project, "-q").stdout
    assert nets == b""
    assert "/networks/create" in berth.log_text()


def test_docker_py_create_start_attach_remove(dclient, berth):
    name = "py-" + uuid.uuid4().hex[:8]
    c = dclient.containers.create("bb", ["sh", "-c", "sleep 1; echo py-out; echo py-err >&2"],
                                  name=name)
    try:
        sock = c.attach_socket(params={"stdout": 1, "stderr": 1, "stream": 1})
        c.start()
        # attach_socket is the hijacked raw connection: read the multiplexed frames to EOF.
        s = sock._sock
        s.settimeout(30)
        raw = recv_until_eof(s)
        sock.close()
        frames = {}
        while raw:
            kind, size = raw[0], int.from_bytes(raw[4:8], "big")
            frames[kind] = frames.get(kind, b"") + raw[8:8 + size]
            raw = raw[8 + size:]
        assert frames == {1: b"py-out\n", 2: b"py-err\n"}
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert c.logs(stdout=True, stderr=False) == b"py-out\n"
    finally:
        c.remove(force=True)
    assert name not in [x.name for x in dclient.containers.list(all=True)]
    assert ("/containers/%s/attach" % c.id) in berth.log_text()


def test_docker_py_run_and_exec(dclient):
    out = dclient.containers.run("bb", ["echo", "run-ok"], remove=True)
    assert out == b"run-ok\n"
    c = dclient.containers.run("bb", ["sleep", "60"], detach=True)
    try:
        code, output = c.exec_run(["sh", "-c", "echo exec-ok; exit 4"])
        assert (code, output) == (4, b"exec-ok\n")
    finally:
        c.remove(force=True)


def test_dockerode_attach_with_stdin(berth):
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "dockerode")):
        run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, timeout=300)
    p = run(["node", os.path.join(NODE_DIR, "dockerode-check.js")], env=berth.env(), timeout=120)
    got = json.loads(p.stdout.decode().strip().splitlines()[-1])
    assert got["version"].startswith("20.10")
    assert got["stdout"] == "out:from-node\n"
    assert got["stderr"] == "err:from-node\n"
    assert got["exit"] == 3
    assert "out:from-node" in got["logs"]
    assert got["gone"] is True
