"""`berth start --docker-sock` / `dockerSock: true` (issue 13 item 6): the system docker socket
path becomes a link to the profile's socket while nothing else owns it, is never taken from a
running engine, and only berth's own link is removed on stop/delete. The path is moved with
BERTH_DOCKER_SOCK so the test does not touch this shared machine's /var/run/docker.sock."""
import os
import socket

import pytest


@pytest.fixture
def sock_path(profiles):
    path = os.path.join(profiles.home, "var-run-docker.sock")
    profiles.env["BERTH_DOCKER_SOCK"] = path
    return path


def test_docker_sock_links_to_the_profile_and_is_removed_on_stop(profiles, sock_path):
    profiles.start("--docker-sock")
    assert os.readlink(sock_path) == profiles.sock()
    # A client that knows only the system path (DOCKER_HOST names it) reaches the profile.
    host = "unix://" + sock_path
    assert profiles.docker("info", "-f", "{{.Name}}", host=host).returncode == 0
    profiles.import_bb()
    out = profiles.docker("run", "--rm", "bb", "echo", "via-link", host=host).stdout
    assert out == b"via-link\n"
    with open(os.path.join(profiles.dir(), "berth.yaml")) as f:
        assert "dockerSock: true" in f.read()

    profiles.berth("stop")
    assert not os.path.lexists(sock_path)
    profiles.berth("start")  # saved in berth.yaml: linked again
    assert os.readlink(sock_path) == profiles.sock()
    profiles.berth("delete", "-f")
    assert not os.path.lexists(sock_path)


def test_docker_sock_never_replaces_a_live_engine_and_replaces_a_dead_one(profiles, sock_path):
    live = socket.socket(socket.AF_UNIX)
    live.bind(sock_path)
    live.listen(1)
    try:
        p = profiles.berth("start", "--vm-type", "ns", "--docker-sock", check=False)
        assert p.returncode != 0
        err = p.stderr.decode().strip().splitlines()
        assert len(err) == 1 and "not replacing " + sock_path in err[0], err
        assert not os.path.exists(os.path.join(profiles.dir(), "berth.yaml"))
        assert not os.path.exists(profiles.sock())  # no daemon was started
    finally:
        live.close()
    # The listener is gone: its socket file is nobody's now, and is replaced.
    assert os.path.exists(sock_path) and not os.path.islink(sock_path)
    profiles.start("--docker-sock", "--lazy")
    assert os.readlink(sock_path) == profiles.sock()

    # Something else replaced the link meanwhile: stop leaves it alone.
    os.unlink(sock_path)
    os.symlink("/nonexistent/other.sock", sock_path)
    profiles.berth("stop")
    assert os.readlink(sock_path) == "/nonexistent/other.sock"
