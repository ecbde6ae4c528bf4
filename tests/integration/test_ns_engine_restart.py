"""Stopping an ns guest is a machine shutdown, not a user's `docker stop` (issue 13 item 1):
containers with `always`/`unless-stopped` come back on the next boot (berth stop/start, berth
restart), containers a user stopped stay stopped, and each container is sent its
stop signal and given its stop timeout. Driven with the docker CLI and docker-compose 1.29."""
import os

from berth_harness import COMPOSE, run
from berth_harness import wait_until as wait_for

COMPOSE_FILE = """version: "2.4"
services:
  web:
    image: bb
    command: sleep 600
    restart: unless-stopped
    stop_grace_period: 2s
"""

# Writes "term" into /out/<name> when it gets SIGTERM, then exits 0: proves a graceful stop.
TRAP = 'trap "echo term > /out/$N; exit 0" TERM; while :; do sleep 0.2; done'



def states(profiles):
    """{name: (Status, RestartPolicy, ExitCode)} of every container in the profile."""
    ids = profiles.docker("--context", "berth", "ps", "-aq").stdout.decode().split()
    fmt = "{{.Name}} {{.State.Status}} {{.HostConfig.RestartPolicy.Name}} {{.State.ExitCode}}"
    out = profiles.docker("--context", "berth", "inspect", "-f", fmt, *ids).stdout.decode()
    found = {}
    for line in out.split("\n"):
        if line.strip():
            name, status, policy, code = line.split()
            found[name.lstrip("/")] = (status, policy or "no", int(code))
    return found


def compose(profiles, project_dir, *args):
    env = dict(profiles.env, DOCKER_HOST="unix://" + profiles.sock())
    return run([COMPOSE, "-p", "rs"] + list(args), env=env, cwd=project_dir, timeout=120)


def start_mix(profiles, out_dir):
    """The containers whose fate after a guest stop the test checks; returns the compose dir."""
    d = lambda *a: profiles.docker("--context", "berth", *a)
    for name, policy in (("always", "always"), ("unless", "unless-stopped"), ("plain", "no")):
        d("run", "-d", "--name", name, "--restart", policy, "-e", "N=" + name, "-v",
          out_dir + ":/out", "bb", "sh", "-c", TRAP)
    d("run", "-d", "--name", "userstopped", "--restart", "unless-stopped", "bb", "sleep", "600")
    d("stop", "-t", "1", "userstopped")
    project = os.path.join(profiles.home, "proj")
    os.makedirs(project, exist_ok=True)
    with open(os.path.join(project, "docker-compose.yml"), "w") as f:
        f.write(COMPOSE_FILE)
    compose(profiles, project, "up", "-d")
    wait_for(lambda: all(s[0] == "running" for n, s in states(profiles).items()
                         if n != "userstopped"), 30, "every container to run")
    return project


def assert_came_back(profiles, out_dir, project, stopped_by_shutdown):
    s = states(profiles)
    assert s["always"][0] == "running", s
    assert s["unless"][0] == "running", s
    assert s["rs_web_1"][0] == "running", s
    assert s["userstopped"][0] == "exited", s
    assert s["plain"][0] == "exited", s
    # Stopped with SIGTERM and time to exit (the trap ran, exit 0), not SIGKILLed (137).
    assert s["plain"][2] == 0, s
    for name in stopped_by_shutdown:
        with open(os.path.join(out_dir, name)) as f:
            assert f.read().strip() == "term", name
        os.unlink(os.path.join(out_dir, name))
    ps = compose(profiles, project, "ps").stdout.decode()
    assert "rs_web_1" in ps and " Up" in ps, ps


def test_stop_start_and_restart_keep_restart_policies(profiles):
    out_dir = os.path.join(profiles.home, "out")
    os.makedirs(out_dir)
    profiles.start("--mount", out_dir + ":w")
    profiles.import_bb()
    project = start_mix(profiles, out_dir)

    profiles.berth("stop")
    profiles.berth("start")
    assert_came_back(profiles, out_dir, project, ("always", "unless", "plain"))

    profiles.berth("restart")
    assert_came_back(profiles, out_dir, project, ("always", "unless"))

