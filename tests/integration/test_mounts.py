"""Bind-mount translation through `berth daemon --mount` (issue 4), real dockerd, real clients.

The share's guest path differs from its host path: the test bind-mounts HOST at GUEST itself
(what a VM's 9p share or the ns driver's bind mount does) and runs berth with
`--mount HOST:GUEST:w`. The engine shares the host's mount namespace here, so the proof that
translation happened is what the engine itself recorded (GUEST paths), read straight from
its socket, while every client going through berth sees HOST paths.
"""
import json
import os
import socket

import pytest

from berth_harness import Berth, run, short_tmpdir
from mounts_helpers import check_compose_relative_bind, make_data_dir, uid


class Share:
    def __init__(self):
        self.dir = short_tmpdir("m")
        self.host = os.path.join(self.dir, "host")
        self.guest = os.path.join(self.dir, "guest")
        self.ro_host = os.path.join(self.dir, "rohost")
        self.ro_guest = os.path.join(self.dir, "roguest")
        self.mounted = []
        for d in (self.host, self.guest, self.ro_host, self.ro_guest):
            os.mkdir(d)
        self._bind(self.host, self.guest)
        self._bind(self.ro_host, self.ro_guest)
        run(["mount", "-o", "remount,bind,ro", self.ro_guest])

    def _bind(self, src, dst):
        run(["mount", "--bind", src, dst])
        self.mounted.append(dst)

    def flags(self):
        return ["--mount", "%s:%s:w" % (self.host, self.guest),
                "--mount", "%s:%s" % (self.ro_host, self.ro_guest)]

    def cleanup(self):
        for m in reversed(self.mounted):
            run(["umount", m], check=False)
        run(["rm", "-rf", "--one-file-system", self.dir], check=False)


@pytest.fixture(scope="module")
def share():
    s = Share()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def mb(engine, share):
    """A berth daemon with the two shares, in front of the shared engine."""
    b = Berth(engine.url, extra_args=share.flags()).start()
    yield b
    code = b.stop()
    b.cleanup()
    assert code == 0, "berth daemon exited %s on SIGTERM" % code


@pytest.fixture
def data(share):
    """A fresh folder in the writable share with a file x."""
    d = make_data_dir(share.host)
    yield d
    run(["rm", "-rf", d], check=False)


def all_containers(engine):
    return engine.docker("ps", "-a", "-q", "--no-trunc").stdout.split()


def test_run_reads_host_file_through_share(mb, data):
    p = mb.docker("run", "--rm", "-v", data + ":/data", "bb", "cat", "/data/x")
    assert p.stdout == b"hello from the host\n"
    # The CLI's own relative form (`-v ./data:/data`, made absolute by the CLI) works too.
    p = mb.docker("run", "--rm", "-v", "./" + os.path.basename(data) + ":/data:ro", "bb",
                  "cat", "/data/x", cwd=os.path.dirname(data))
    assert p.stdout == b"hello from the host\n"


def test_container_write_appears_on_host(mb, data):
    mb.docker("run", "--rm", "-v", data + ":/data:rw,z", "bb", "sh", "-c",
              "echo written-in-container > /data/out")
    with open(os.path.join(data, "out")) as f:
        assert f.read() == "written-in-container\n"


def test_missing_source_is_created_inside_the_share(mb, data):
    """`-v` of a path that does not exist yet: the engine creates it at the translated guest
    path, which is the host folder seen through the share."""
    fresh = os.path.join(data, "new", "deeper")
    mb.docker("run", "--rm", "-v", fresh + ":/n", "bb", "sh", "-c", "echo made > /n/f")
    with open(os.path.join(fresh, "f")) as f:
        assert f.read() == "made\n"


def test_mount_flag_type_bind(mb, data):
    p = mb.docker("run", "--rm", "--mount", "type=bind,source=%s,target=/data" % data, "bb",
                  "sh", "-c", "cat /data/x; echo via-mount > /data/m")
    assert p.stdout == b"hello from the host\n"
    with open(os.path.join(data, "m")) as f:
        assert f.read() == "via-mount\n"
    p = mb.docker("run", "--rm", "--mount",
                  "type=bind,source=%s,target=/data,readonly,bind-propagation=rprivate" % data,
                  "bb", "sh", "-c", "cat /data/x; touch /data/no 2>/dev/null || echo ro")
    assert p.stdout == b"hello from the host\nro\n"


def test_inspect_shows_host_path_engine_holds_guest_path(mb, engine, share, data):
    name = uid("insp")
    mb.docker("create", "--name", name, "-v", data + ":/data:ro", "--mount",
              "type=bind,source=%s,target=/m" % data, "bb", "true")
    try:
        guest_data = data.replace(share.host, share.guest, 1)
        via_berth = json.loads(mb.docker("inspect", name).stdout)[0]
        direct = json.loads(engine.docker("inspect", name).stdout)[0]
        # What the engine was really asked for: the guest path.
        assert direct["HostConfig"]["Binds"] == [guest_data + ":/data:ro"]
        assert direct["HostConfig"]["Mounts"][0]["Source"] == guest_data
        assert sorted(m["Source"] for m in direct["Mounts"]) == [guest_data, guest_data]
        # What the user sees: the host path they wrote, and every other field as the engine said.
        assert via_berth["HostConfig"]["Binds"] == [data + ":/data:ro"]
        assert via_berth["HostConfig"]["Mounts"][0]["Source"] == data
        assert sorted(m["Source"] for m in via_berth["Mounts"]) == [data, data]
        for key in ("Id", "Created", "Config", "NetworkSettings", "State", "Image"):
            assert via_berth[key] == direct[key], key
        # The list route too (docker-py's low-level API shows Mounts).
        c = mb.client()
        try:
            listed = c.api.containers(all=True, filters={"name": name})
        finally:
            c.close()
        assert [m["Source"] for m in listed[0]["Mounts"]] == [data, data]
    finally:
        mb.docker("rm", "-f", name)


def test_unshared_path_refused_nothing_created(mb, engine):
    before = all_containers(engine)
    p = mb.docker("run", "-v", "/not/shared:/x", "bb", "true", check=False)
    assert p.returncode != 0
    err = p.stderr.decode()
    assert "bind source path /not/shared is not shared with the berth guest" in err, err
    assert "--mount /not/shared:w" in err, err
    p = mb.docker("run", "--mount", "type=bind,source=/not/shared,target=/x,readonly", "bb",
                  "true", check=False)
    assert p.returncode != 0
    assert "--mount /not/shared " in p.stderr.decode(), p.stderr
    assert all_containers(engine) == before


def test_relative_and_windows_sources_refused(mb, engine):
    """Raw API clients (docker-py here; the docker CLI makes `./x` absolute itself) get berth's
    message rather than the engine's volume-name complaint."""
    before = all_containers(engine)
    c = mb.client()
    try:
        for source, why in (("./data", "is a relative path"),
                            ("data/sub", "is a relative path"),
                            ("C:\\Users\\me", "Windows-style path")):
            with pytest.raises(Exception) as err:
                c.api.create_container("bb", "true", host_config=c.api.create_host_config(
                    binds=[source + ":/data"]))
            assert why in str(err.value), (source, str(err.value))
            assert "400" in str(err.value)
    finally:
        c.close()
    assert all_containers(engine) == before


def test_escapes_refused(mb, engine, share, data):
    before = all_containers(engine)
    link = os.path.join(data, "esc")
    os.symlink("/etc", link)
    p = mb.docker("run", "--rm", "-v", link + ":/x:ro", "bb", "ls", "/x", check=False)
    assert p.returncode != 0
    assert "resolves to /etc" in p.stderr.decode(), p.stderr
    dotdot = data + "/../../../../etc"  # data-X, host, b-m-X, tmp
    p = mb.docker("run", "--rm", "-v", dotdot + ":/x:ro", "bb", "true", check=False)
    assert p.returncode != 0
    assert "resolves to /etc" in p.stderr.decode(), p.stderr
    # A symlink that stays inside the share is followed.
    os.symlink(".", os.path.join(data, "self"))
    p = mb.docker("run", "--rm", "-v", data + "/self/self:/d", "bb", "cat", "/d/x")
    assert p.stdout == b"hello from the host\n"
    assert all_containers(engine) == before


def test_read_only_share(mb, share):
    with open(os.path.join(share.ro_host, "r"), "w") as f:
        f.write("read-only share\n")
    p = mb.docker("run", "--rm", "-v", share.ro_host + ":/r:ro", "bb", "cat", "/r/r")
    assert p.stdout == b"read-only share\n"
    p = mb.docker("run", "--rm", "-v", share.ro_host + ":/r", "bb", "true", check=False)
    assert p.returncode != 0
    err = p.stderr.decode()
    assert "read-only share " + share.ro_host in err, err
    assert "--mount %s:%s:w" % (share.ro_host, share.ro_guest) in err, err


def test_engine_socket_binds_reach_the_engine(mb, engine):
    """`-v /var/run/docker.sock:...` (testcontainers' Ryuk, CI runners) gets the engine's own
    socket, shared or not; so does berth's socket. Neither exists in the guest by that name
    here, so only the translation can make the socket appear."""
    assert not os.path.exists("/var/run/docker.sock")
    for source in ("/var/run/docker.sock", mb.sock):
        name = uid("sock")
        mb.docker("create", "--name", name, "-v", source + ":/var/run/docker.sock", "bb", "sh",
                  "-c", "test -S /var/run/docker.sock && echo socket")
        try:
            direct = json.loads(engine.docker("inspect", name).stdout)[0]
            assert direct["HostConfig"]["Binds"] == [engine.sock + ":/var/run/docker.sock"]
            p = mb.docker("start", "-a", name)
            assert p.stdout == b"socket\n"
            shown = json.loads(mb.docker("inspect", name).stdout)[0]
            assert shown["HostConfig"]["Binds"] == ["/var/run/docker.sock:/var/run/docker.sock"]
        finally:
            mb.docker("rm", "-f", name)


def test_volumes_untouched(mb, engine):
    name = uid("vol")
    p = mb.docker("run", "--rm", "-v", "/anon", "-v", name + ":/n", "bb", "sh", "-c",
                  "echo v > /n/f; cat /n/f")
    assert p.stdout == b"v\n"
    assert name in engine.docker("volume", "ls", "-q").stdout.decode().split()
    mb.docker("volume", "rm", name)


def test_bind_volume_device_translated(mb, engine, share, data):
    name = uid("bvol")
    mb.docker("volume", "create", "--driver", "local", "--opt", "type=none", "--opt", "o=bind",
              "--opt", "device=" + data, name)
    try:
        direct = json.loads(engine.docker("volume", "inspect", name).stdout)[0]
        assert direct["Options"]["device"] == data.replace(share.host, share.guest, 1)
        shown = json.loads(mb.docker("volume", "inspect", name).stdout)[0]
        assert shown["Options"]["device"] == data
        c = mb.client()
        try:
            listed = [v for v in c.api.volumes()["Volumes"] if v["Name"] == name]
        finally:
            c.close()
        assert listed[0]["Options"]["device"] == data
        p = mb.docker("run", "--rm", "-v", name + ":/v", "bb", "cat", "/v/x")
        assert p.stdout == b"hello from the host\n"
    finally:
        mb.docker("volume", "rm", name)
    p = mb.docker("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt",
                  "device=/not/shared", uid("bad"), check=False)
    assert p.returncode != 0
    assert "/not/shared is not shared" in p.stderr.decode(), p.stderr
    # --mount type=volume with bind options: the device is translated as well.
    vname = uid("mvol")
    p = mb.docker("run", "--rm", "--mount",
                  "type=volume,source=%s,target=/v,volume-driver=local,"
                  "volume-opt=type=none,volume-opt=o=bind,volume-opt=device=%s" % (vname, data),
                  "bb", "cat", "/v/x")
    assert p.stdout == b"hello from the host\n"
    mb.docker("volume", "rm", vname)


def test_compose_relative_bind_from_project_dir(mb, share):
    check_compose_relative_bind(mb.compose, mb.docker, share.host)


def _raw(sock_path, request, timeout=30):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        s.sendall(request)
    except (BrokenPipeError, ConnectionResetError):
        pass  # berth answered early and closed; the reply is still readable
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head, body


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_oversized_create_body_gets_413(mb, engine, framing):
    before = all_containers(engine)
    filler = "a" * (17 * 1024 * 1024)
    body = json.dumps({"Image": "bb", "Labels": {"big": filler}}).encode()
    head = b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if framing == "chunked":
        step = 1 << 20
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                          for i in range(0, len(body), step))
        req = head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    else:
        req = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    status, _, reply = _raw(mb.sock, req)
    assert status == 413
    assert "request body too large for berth to inspect" in json.loads(reply)["message"]
    assert all_containers(engine) == before


def test_non_json_body_reaches_engine(mb, engine):
    req = (b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"Content-Type: application/json\r\nContent-Length: 8\r\n\r\nnot json")
    status, _, reply = _raw(mb.sock, req)
    direct_status, _, direct_reply = _raw(engine.sock, req)
    assert (status, json.loads(reply)) == (direct_status, json.loads(direct_reply))
    assert status >= 400 and "invalid character" in json.loads(reply)["message"]


def test_bad_mount_flag_is_one_clear_line(tmp_short, engine):
    b = Berth(engine.url, extra_args=["--mount", "C:\\Users\\me:/x"], dir=tmp_short)
    b.start(wait=False)
    code = b.proc.wait(10)
    b.log.close()
    assert code == 1
    lines = b.log_text().strip().splitlines()
    assert lines == ["berth: --mount 'C:\\Users\\me:/x': Windows-style paths cannot be shared "
                     "with the Linux guest; give the folder's absolute POSIX path "
                     "(e.g. /mnt/c/Users/me/src)"], lines
