"""The containerd runtime on the ns driver (issue 14): Debian's containerd runs in the guest's
namespaces, its gRPC API is relayed byte for byte on <profile>/containerd.sock (a lazy profile
boots on the first ctr call), `berth ctr` runs ctr in the guest with stdin, stdout and the exit
code passed through, docker.sock answers one clear line, a killed containerd is restarted with
its tasks still running, and what is not built (qemu, a bad BERTH_DEFAULT_RUNTIME, nerdctl
missing) is refused in one line with nothing saved."""
import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import tarfile
import time

import pytest

from berth_harness import BERTH_BIN, wait_until
from profiles_helpers import Profiles

IMAGE = "docker.io/library/bb:latest"
CTR = shutil.which("ctr") or "/usr/bin/ctr"


def busybox_docker_archive(path):
    """A `docker save`-format tarball of busybox-static named IMAGE, made here (no registry)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        for d in ("bin", "tmp", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            t.addfile(info)
        t.add("/bin/busybox", arcname="bin/busybox")
        for applet in ("sh", "echo", "cat", "sha256sum", "sleep", "wc"):
            info = tarfile.TarInfo("bin/" + applet)
            info.type, info.linkname = tarfile.SYMTYPE, "/bin/busybox"
            t.addfile(info)
    layer = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [IMAGE],
                            "Layers": ["layer/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as t:
        for name, data in ((config_name, config), ("layer/layer.tar", layer),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def cd():
    """One lazy containerd profile for the module (its boot is the slow part)."""
    p = Profiles()
    p.start("--runtime", "containerd", "--lazy")
    yield p
    p.cleanup()


def host_ctr(p, *args, check=True, timeout=60, **kw):
    sock = os.path.join(p.dir(), "containerd.sock")
    return subprocess.run([CTR, "--address", sock, *args], capture_output=True,
                          timeout=timeout, check=check, **kw)


def test_lazy_profile_boots_on_the_first_ctr_call_through_the_host_socket(cd):
    s = cd.status()
    assert s["runtime"] == "containerd"
    sock = os.path.join(cd.dir(), "containerd.sock")
    assert s["containerdSocket"] == sock
    assert s["boot"]["state"] != "up" and s["boot"]["boots"] == 0, s["boot"]
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600

    v = host_ctr(cd, "version")
    out = v.stdout.decode()
    assert "Server:" in out and "1.6" in out.split("Server:")[1], out
    s = cd.status()
    assert s["boot"]["state"] == "up" and s["boot"]["boots"] == 1, s["boot"]
    assert s["guest"]["detail"].startswith("containerd pid"), s["guest"]
    # Strictly under the profile: berth's config, root and state, and the guest's socket.
    guest = os.path.join(cd.dir(), "guest")
    config = open(os.path.join(guest, "containerd.toml")).read()
    assert 'root = "%s/data/containerd"' % guest in config, config
    assert 'state = "%s/containerd-state"' % guest in config, config
    pid = int(open(os.path.join(guest, "containerd.pid")).read())
    cmdline = open("/proc/%d/cmdline" % pid).read().split("\0")
    assert cmdline[cmdline.index("--address") + 1] == os.path.join(guest, "engine.sock")


def test_images_import_list_and_content_through_the_relay(cd):
    tarball = os.path.join(cd.home, "bb.tar")
    busybox_docker_archive(tarball)
    host_ctr(cd, "images", "import", tarball, timeout=120)
    assert "default" in host_ctr(cd, "namespaces", "ls", "-q").stdout.decode().split()
    assert IMAGE in host_ctr(cd, "images", "ls", "-q").stdout.decode().split()
    assert "sha256:" in host_ctr(cd, "content", "ls").stdout.decode()


def test_berth_ctr_passes_output_exit_codes_and_stdin(cd):
    p = cd.berth("ctr", "--", "run", "--rm", IMAGE, "t1", "echo", "ok")
    assert p.stdout == b"ok\n"
    p = cd.berth("ctr", "--", "run", "--rm", IMAGE, "t2", "sh", "-c", "exit 7", check=False)
    assert p.returncode == 7, p.stderr
    data = os.urandom(4 << 20)
    p = subprocess.run([BERTH_BIN, "ctr", "--", "run", "--rm", IMAGE, "t3", "sha256sum"],
                       env=cd.env, input=data, capture_output=True, timeout=120, check=True)
    assert p.stdout.decode().split()[0] == hashlib.sha256(data).hexdigest()


def test_docker_sock_answers_one_clear_line(cd):
    p = cd.docker("-H", "unix://" + cd.sock(), "ps", check=False)
    err = p.stderr.decode().strip()
    assert p.returncode != 0 and len(err.splitlines()) == 1, err
    assert "runs containerd, not the Docker engine" in err and "berth ctr" in err, err
    assert os.path.join(cd.dir(), "containerd.sock") in err, err


def test_killed_containerd_is_restarted_and_its_tasks_survive(cd):
    # runc keeps its state in containerd's fixed /run/containerd/runc/<namespace> (README): an
    # id of this run's own, so an earlier run's leftover cannot clash.
    task = "t4-%d" % os.getpid()
    cd.berth("ctr", "--", "run", "-d", IMAGE, task, "sleep", "300")
    pid_file = os.path.join(cd.dir(), "guest", "containerd.pid")
    old = int(open(pid_file).read())
    os.kill(old, signal.SIGKILL)

    def restarted():
        p = host_ctr(cd, "tasks", "ls", check=False, timeout=20)
        return p.returncode == 0 and task in p.stdout.decode()

    wait_until(restarted, 60, "berth to restart containerd", interval=0.3)
    tasks = host_ctr(cd, "tasks", "ls").stdout.decode()
    assert any(line.split()[0] == task and "RUNNING" in line for line in tasks.splitlines()[1:])
    assert int(open(pid_file).read()) != old
    detail = cd.status()["guest"]["detail"]
    assert "restarted after: containerd was killed by signal 9" in detail, detail
    host_ctr(cd, "tasks", "kill", "-s", "SIGKILL", task)
    wait_until(lambda: "RUNNING" not in host_ctr(cd, "tasks", "ls").stdout.decode(), 20,
               "the task to end")
    host_ctr(cd, "tasks", "delete", task)  # runc's state goes with it
    host_ctr(cd, "containers", "delete", task)


def test_status_and_list_show_the_runtime_and_its_socket(cd):
    sock = os.path.join(cd.dir(), "containerd.sock")
    out = cd.berth("status").stdout.decode()
    assert "runtime: containerd" in out and "containerd socket: " + sock in out, out
    row = json.loads(cd.berth("list", "--json").stdout.decode().splitlines()[0])
    assert (row["runtime"], row["containerdSocket"]) == ("containerd", sock), row


def test_nerdctl_says_it_is_missing(cd):
    if shutil.which("nerdctl"):
        pytest.fail("nerdctl is installed here: this test expects it missing")
    p = cd.berth("nerdctl", "--", "ps", check=False)
    err = p.stderr.decode().strip()
    assert p.returncode == 1 and len(err.splitlines()) == 1, err
    assert "nerdctl is not installed" in err and "berth ctr" in err, err


def test_refusals_change_nothing():
    p = Profiles()
    try:
        r = p.berth("start", "-p", "q", "--vm-type", "qemu", "--runtime", "containerd",
                    check=False)
        assert r.returncode == 1, r.stderr
        assert b"the containerd runtime is built for --vm-type ns only so far" in r.stderr
        assert b"nothing was saved" in r.stderr
        assert not os.path.exists(os.path.join(p.dir("q"), "berth.yaml"))

        env = dict(p.env, BERTH_DEFAULT_RUNTIME="podman")
        r = p.berth("start", "-p", "q", "--vm-type", "ns", "--lazy", check=False, env=env)
        assert r.returncode == 1 and b"BERTH_DEFAULT_RUNTIME is 'podman'" in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(p.dir("q"), "berth.yaml"))

        env = dict(p.env, BERTH_DEFAULT_RUNTIME="containerd")
        p.berth("start", "-p", "q", "--vm-type", "ns", "--lazy", env=env)
        assert p.status("q")["runtime"] == "containerd"
        p.berth("start", "-p", "d", "--vm-type", "ns", "--lazy")
        assert p.status("d")["runtime"] == "docker"
        r = p.berth("ctr", "-p", "d", "--", "version", check=False)
        assert r.returncode == 1 and b"runs docker, not containerd" in r.stderr, r.stderr
    finally:
        p.cleanup()
