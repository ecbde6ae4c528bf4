"""Checks shared by the mount-translation tests (plain relay and ns profile)."""
import json
import os
import uuid


def uid(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def check_compose_relative_bind(compose, docker, base):
    """A compose project under `base` (a host folder inside a share) whose service binds
    `./data:/data`: the service reads the host file and writes one back, and inspect shows the
    host path. `compose(*args, cwd=, check=)` and `docker(*args)` run the real clients through
    berth."""
    proj = os.path.join(base, uid("proj"))
    os.makedirs(os.path.join(proj, "data"))
    with open(os.path.join(proj, "data", "x"), "w") as f:
        f.write("compose sees the host\n")
    with open(os.path.join(proj, "docker-compose.yml"), "w") as f:
        f.write("version: '3'\nservices:\n  app:\n    image: bb\n"
                "    command: sh -c 'cat /data/x; echo from-compose > /data/y'\n"
                "    volumes:\n      - ./data:/data\n")
    project = uid("mc").replace("-", "")
    try:
        compose("-p", project, "up", "--no-color", "--exit-code-from", "app", cwd=proj)
        logs = compose("-p", project, "logs", "--no-color", "app", cwd=proj).stdout.decode()
        assert "compose sees the host" in logs, logs
        with open(os.path.join(proj, "data", "y")) as f:
            assert f.read() == "from-compose\n"
        shown = json.loads(docker("inspect", "%s_app_1" % project).stdout)[0]
        assert shown["Mounts"][0]["Source"] == os.path.join(proj, "data")
    finally:
        compose("-p", project, "down", "-v", cwd=proj, check=False)


def make_data_dir(root):
    """A fresh folder under `root` (a share) holding a file x; returns its path."""
    d = os.path.join(root, uid("data"))
    os.mkdir(d)
    with open(os.path.join(d, "x"), "w") as f:
        f.write("hello from the host\n")
    return d
