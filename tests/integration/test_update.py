"""`berth update` (issue 16) with the ns driver: its engine is the host's installed dockerd, so
an update is a restart of the guest onto it -- a machine shutdown, after which containers with a
restart policy come back and the others stay stopped -- and it says the versions before and
after. To stand for "the host's dockerd was upgraded", BERTH_DOCKERD (the ns driver's own choice
of dockerd) points at a wrapper named dockerd that reports another version for `--version` and
otherwise runs Debian's dockerd; the engine then still answers as Debian's, and update says that
it does not match (exit 1) after restarting it. A qemu profile's engine is updated from inside
its guest (tests/e2e/test_qemu_vm.py), so a qemu profile that is not running is refused with one
line that says to start it, and nothing is changed."""
import os

from berth_harness import run


def engine_version(profiles):
    return profiles.docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()


def fake_upgraded_dockerd(profiles):
    folder = os.path.join(profiles.home, "newer")
    os.mkdir(folder)
    path = os.path.join(folder, "dockerd")
    real = "/usr/sbin/dockerd" if os.path.exists("/usr/sbin/dockerd") else "/usr/bin/dockerd"
    with open(path, "w") as f:
        f.write('#!/bin/sh\nif [ "$1" = --version ]; then\n'
                '  echo "Docker version 99.1.0-test, build test"; exit 0\nfi\n'
                'exec %s "$@"\n' % real)
    os.chmod(path, 0o755)
    return dict(profiles.env, BERTH_DOCKERD=path)


def test_update_on_the_hosts_version_changes_nothing(profiles):
    profiles.start()
    pid = profiles.dockerd_pid()
    p = profiles.berth("update")
    out = p.stdout.decode()
    assert "engine %s is the host's installed dockerd already" % engine_version(profiles) in out
    assert profiles.dockerd_pid() == pid


def test_update_restarts_the_engine_and_containers_with_restart_policies_come_back(profiles):
    profiles.start()
    profiles.import_bb()
    profiles.docker("run", "-d", "--name", "keeper", "--restart", "always", "bb", "sleep", "3600")
    profiles.docker("run", "-d", "--name", "once", "bb", "sleep", "3600")
    before = engine_version(profiles)
    pid = profiles.dockerd_pid()
    env = fake_upgraded_dockerd(profiles)

    p = profiles.berth("update", "--dry-run", env=env)
    assert "would restart the engine onto the host's dockerd: %s -> 99.1.0-test" % before in \
        p.stdout.decode(), p.stdout
    assert profiles.dockerd_pid() == pid

    p = profiles.berth("update", env=env, check=False)
    assert "engine %s -> %s" % (before, before) in p.stdout.decode(), p.stdout
    assert p.returncode == 1
    assert "not the host's dockerd 99.1.0-test" in p.stderr.decode().strip().splitlines()[-1]
    assert profiles.dockerd_pid() != pid  # restarted
    state = lambda name: profiles.docker("inspect", "-f", "{{.State.Running}}", name) \
        .stdout.decode().strip()
    assert state("keeper") == "true"
    assert state("once") == "false"


def test_update_of_a_stopped_profile_and_of_qemu(profiles):
    profiles.start("--lazy")
    p = profiles.berth("update")
    assert "the engine is not running; its next boot runs the host's dockerd" in \
        p.stdout.decode()
    profiles.berth("stop")
    os.makedirs(profiles.dir("vmq"))
    with open(os.path.join(profiles.dir("vmq"), "berth.yaml"), "w") as f:
        f.write("vmType: qemu\n")
    p = profiles.berth("update", "-p", "vmq", check=False)
    assert p.returncode == 1
    line = p.stderr.decode().strip()
    assert "\n" not in line and "profile 'vmq' is not running" in line, line
    assert "start it first (berth start -p vmq); nothing was changed" in line, line
