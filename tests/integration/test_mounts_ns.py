"""Bind-mount translation in a profile (issue 4): `berth start --vm-type ns --mount
HOST:GUEST[:w]`, where the ns driver bind-mounts each share at its guest path inside the
guest's own mount namespace only. On the host the guest path is an empty directory, so a
container sees the host's files there only if berth translated the path; the engine's own
record (read straight from its socket) shows the guest path, clients the host path."""
import json
import os

import pytest

from berth_harness import COMPOSE, run
from mounts_helpers import check_compose_relative_bind, make_data_dir, uid
from profiles_helpers import Profiles


@pytest.fixture(scope="module")
def ns():
    """One profile for the module: a writable share and a read-only one, both at guest paths
    that differ from their host paths."""
    p = Profiles()
    p.host = os.path.join(p.home, "h")
    p.guest = os.path.join(p.home, "g", "share")
    p.ro_host = os.path.join(p.home, "r")
    p.ro_guest = os.path.join(p.home, "g", "ro")
    for d in (p.host, p.ro_host):
        os.makedirs(d)
    with open(os.path.join(p.ro_host, "r"), "w") as f:
        f.write("read-only share\n")
    try:
        p.start("--mount", "%s:%s:w" % (p.host, p.guest), "--mount",
                "%s:%s" % (p.ro_host, p.ro_guest))
        p.import_bb()
        p.engine_sock = os.path.join(p.dir(), "guest", "engine.sock")
        yield p
    finally:
        p.cleanup()


def dk(ns, *args, **kw):
    return ns.docker("--context", "berth", *args, **kw)


def direct(ns, *args):
    """The docker CLI straight at the guest's engine, bypassing berth."""
    return ns.docker("-H", "unix://" + ns.engine_sock, *args)


@pytest.fixture
def data(ns):
    return make_data_dir(ns.host)


def all_containers(ns):
    return direct(ns, "ps", "-a", "-q", "--no-trunc").stdout.split()


def test_status_lists_shares(ns):
    s = ns.status()
    assert s["mounts"] == [
        {"location": ns.host, "mountPoint": ns.guest, "writable": True},
        {"location": ns.ro_host, "mountPoint": ns.ro_guest, "writable": False},
    ]
    human = ns.berth("status").stdout.decode()
    assert "mount: %s -> %s (rw)" % (ns.host, ns.guest) in human, human
    assert "mount: %s -> %s (ro)" % (ns.ro_host, ns.ro_guest) in human, human


def test_run_reads_and_writes_through_the_share(ns, data):
    # On the host the guest path is an empty mount point: only the guest sees the share there.
    assert os.listdir(ns.guest) == []
    p = dk(ns, "run", "--rm", "-v", data + ":/data", "bb", "sh", "-c",
           "cat /data/x; echo from-container > /data/out")
    assert p.stdout == b"hello from the host\n"
    with open(os.path.join(data, "out")) as f:
        assert f.read() == "from-container\n"
    p = dk(ns, "run", "--rm", "--mount", "type=bind,source=%s,target=/m,readonly" % data, "bb",
           "cat", "/m/x")
    assert p.stdout == b"hello from the host\n"
    p = dk(ns, "run", "--rm", "-v", ns.ro_host + ":/r:ro", "bb", "cat", "/r/r")
    assert p.stdout == b"read-only share\n"


def test_inspect_shows_host_path(ns, data):
    name = uid("insp")
    dk(ns, "create", "--name", name, "-v", data + ":/data:ro", "bb", "true")
    try:
        guest_data = data.replace(ns.host, ns.guest, 1)
        engine_view = json.loads(direct(ns, "inspect", name).stdout)[0]
        assert engine_view["HostConfig"]["Binds"] == [guest_data + ":/data:ro"]
        assert engine_view["Mounts"][0]["Source"] == guest_data
        shown = json.loads(dk(ns, "inspect", name).stdout)[0]
        assert shown["HostConfig"]["Binds"] == [data + ":/data:ro"]
        assert shown["Mounts"][0]["Source"] == data
    finally:
        dk(ns, "rm", "-f", name)


def test_unshared_and_read_only_refused_nothing_created(ns, data):
    before = all_containers(ns)
    p = dk(ns, "run", "-v", "/not/shared:/x", "bb", "true", check=False)
    assert p.returncode != 0
    err = p.stderr.decode()
    assert "bind source path /not/shared is not shared with the berth guest" in err, err
    # The profile is `default`: the hint needs no -p.
    assert "berth mount add /not/shared:w, then berth restart (" in err, err
    # The guest path itself is no host path berth shares.
    p = dk(ns, "run", "-v", ns.guest + ":/x", "bb", "true", check=False)
    assert p.returncode != 0 and "is not shared" in p.stderr.decode()
    p = dk(ns, "run", "-v", ns.ro_host + ":/r", "bb", "true", check=False)
    assert p.returncode != 0
    assert "read-only share " + ns.ro_host in p.stderr.decode(), p.stderr
    assert all_containers(ns) == before


def test_compose_relative_bind(ns):
    env = dict(ns.env, DOCKER_HOST="unix://" + ns.sock())

    def compose(*args, **kw):
        return run([COMPOSE] + list(args), env=env, **kw)

    check_compose_relative_bind(compose, lambda *a: dk(ns, *a), ns.host)


def test_engine_socket_bind(ns):
    for source in ("/var/run/docker.sock", ns.sock()):
        p = dk(ns, "run", "--rm", "-v", source + ":/var/run/docker.sock", "bb", "sh", "-c",
               "test -S /var/run/docker.sock && echo socket")
        assert p.stdout == b"socket\n"


def test_default_share_is_home(tmp_short):
    """Without --mount the profile shares the user's home, writable, at the same path."""
    p = Profiles()
    try:
        home = os.path.join(p.home, "home")
        os.makedirs(os.path.join(home, "proj"))
        with open(os.path.join(home, "proj", "x"), "w") as f:
            f.write("in home\n")
        p.env["HOME"] = home
        p.start()
        p.import_bb()
        assert p.status()["mounts"] == [{"location": home, "mountPoint": home, "writable": True}]
        out = p.docker("--context", "berth", "run", "--rm", "-v", home + "/proj:/p", "bb", "cat",
                       "/p/x").stdout
        assert out == b"in home\n"
        r = p.docker("--context", "berth", "run", "--rm", "-v", tmp_short + ":/t", "bb", "true",
                     check=False)
        assert r.returncode != 0
        assert "is not shared" in r.stderr.decode() and "berth mount add " + tmp_short + ":w" in \
            r.stderr.decode()
    finally:
        p.cleanup()


def test_stopping_one_profile_keeps_anothers_share(tmp_short):
    """Two profiles share one host folder at the same guest path, which does not exist on the
    host: the first to start creates it there and removes it at a stop. Removing a folder that
    is a mount point in another mount namespace detaches that mount, so while the second
    profile's guest still has its share there, the folder stays until the first's next stop."""
    p = Profiles()
    try:
        host = os.path.join(p.home, "h")
        guest = os.path.join(p.home, "g", "share")
        os.makedirs(host)
        with open(os.path.join(host, "x"), "w") as f:
            f.write("shared by two\n")
        p.start("--mount", "%s:%s:w" % (host, guest), profile="one")
        p.start("--mount", "%s:%s:w" % (host, guest), profile="two")
        p.import_bb(profile="two")
        p.berth("stop", "-p", "one")
        assert os.path.isdir(guest)
        out = p.docker("-H", "unix://" + p.sock("two"), "run", "--rm", "-v", host + ":/h", "bb",
                       "cat", "/h/x").stdout
        assert out == b"shared by two\n"
        p.berth("stop", "-p", "two")
        # Still listed as the first profile's: its next stop removes them, leaving nothing.
        p.start("--mount", "%s:%s:w" % (host, guest), profile="one")
        p.berth("stop", "-p", "one")
        assert not os.path.exists(os.path.join(p.home, "g"))
    finally:
        p.cleanup()
