"""The slow VM suite (tests/ci/suites/90-vm-e2e.sh): a real qemu guest (TCG when there is no
KVM) booted by `berth start --vm-type qemu`, driven through berth's socket with the real docker
CLI. Not part of the quick suite (pytest tests/integration). Needs a built guest image
(contrib/guest/build-image.sh; the suite script builds or reuses it) and root.

One profile goes through the whole life: full boot, run, bind mount, published port, ports no
container publishes (a `--network host` container, a service started with `berth ssh`), ssh,
`berth update` of the guest's docker.io (from a local apt repository made in the guest),
berth's ns driver run inside the guest (its cgroup v2 limits, which the CI host's cgroup v1
cannot show), stop (saves the VM state), start (resumes it), kill -9 of its daemon and the next
start adopting the running guest (same containers, ports reconciled), `berth stop` of a guest
whose daemon was killed, delete. A fresh profile then boots the same image downloaded from image.url (local
HTTPS, checked against image.sha256). A second profile whose dockerd cannot
start shows the 503 a client gets and that nothing is left running.
"""
import hashlib
import http.client
import json
import mmap
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from berth_harness import BERTH_BIN, DOCKER, HARNESS, run, short_tmpdir  # noqa: E402
from https_helpers import HttpsServer, Site  # noqa: E402

WEB_PORT = 21080  # this suite's host ports: 21000-21999
KEPT_PORT = 21081
GONE_PORT = 21082


def berth(home, *args, timeout=900, check=True, env_extra=None):
    # The names front never takes the host's port 80 (its own port only).
    env = dict(os.environ, BERTH_HOME=home, BERTH_DOMAINS_SHARED_PORT="0")
    env.update(env_extra or {})
    return run([BERTH_BIN, *args], env=env, check=check, timeout=timeout)


def docker(home, *args, timeout=300, check=True, profile="default"):
    env = dict(os.environ, DOCKER_HOST="unix://%s/%s/docker.sock" % (home, profile))
    env.pop("DOCKER_CONTEXT", None)
    return run([DOCKER, *args], env=env, check=check, timeout=timeout)


def qemu_pids(state_dir):
    """pids of QEMU processes that use `state_dir` (nothing else may be left behind)."""
    out = subprocess.run(["pgrep", "-f", "qemu-system.*" + re.escape(state_dir)],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def report(title, stderr):
    """Prints berth's boot progress (per-phase timings) into the test log."""
    print("\n--- %s ---" % title)
    for line in stderr.decode(errors="replace").splitlines():
        if "qemu:" in line or "guest up" in line:
            print(line)


@pytest.fixture(scope="module")
def world():
    home = short_tmpdir("qemu")
    share = short_tmpdir("qemu-share")
    os.chmod(home, 0o700)
    w = {"home": home, "share": share, "state": os.path.join(home, "default", "guest")}
    yield w
    # Whatever happened: no daemon, no QEMU, no files.
    for profile in ("default", "broken"):
        berth(home, "delete", "-f", "--data", "-p", profile, check=False, timeout=120)
    for pid in qemu_pids(home):
        os.kill(pid, 9)
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(share, ignore_errors=True)


def test_01_full_boot_then_docker_run(world):
    t0 = time.monotonic()
    image = ["--disk-image", os.environ["BERTH_E2E_IMAGE"]] if os.environ.get("BERTH_E2E_IMAGE") else []
    p = berth(world["home"], "start", "--no-activate", "--vm-type", "qemu", "--cpus", "2", "--memory", "2",
              "--mount", world["share"] + ":w", *image)
    report("full boot: berth start took %.1fs" % (time.monotonic() - t0), p.stderr)
    assert b"boot phases" in p.stderr, p.stderr
    assert qemu_pids(world["state"]), "no QEMU runs for the profile"
    run(["bash", HARNESS, "import-bb", os.path.join(world["home"], "default", "docker.sock"),
         os.path.join(world["home"], "bb")])
    out = docker(world["home"], "run", "--rm", "bb", "echo", "ok").stdout
    assert out == b"ok\n"


def test_02_bind_mount_reads_and_writes_the_host_folder(world):
    with open(os.path.join(world["share"], "from-host.txt"), "w") as f:
        f.write("written on the host\n")
    out = docker(world["home"], "run", "--rm", "-v", world["share"] + ":/data", "bb", "sh", "-c",
                 "cat /data/from-host.txt && echo written-in-guest > /data/from-guest.txt").stdout
    assert out == b"written on the host\n"
    with open(os.path.join(world["share"], "from-guest.txt")) as f:
        assert f.read() == "written-in-guest\n"


def _get(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def test_03_published_port_reachable_on_host_loopback(world):
    docker(world["home"], "run", "-d", "--name", "web", "-p", "%d:80" % WEB_PORT, "bb", "sh", "-c",
           "mkdir -p /www && echo hello-from-the-vm > /www/index.html && httpd -f -p 80 -h /www")
    url = "http://127.0.0.1:%d/" % WEB_PORT
    deadline = time.monotonic() + 60
    body, last = None, None
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        try:
            body = _get(url)
            break
        except Exception as e:  # not forwarded yet, or httpd not up yet
            last = e
            time.sleep(0.2)
    assert body == b"hello-from-the-vm\n", "port %d never answered: %r" % (WEB_PORT, last)
    print("\npublished port answered %.2fs after docker run returned" % (time.monotonic() - t0))
    status = json.loads(berth(world["home"], "status", "--json").stdout)
    forwards = status.get("forwards", [])
    assert any(f.get("guestPort") == WEB_PORT for f in forwards), status.get("forwards")
    docker(world["home"], "rm", "-f", "web")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", WEB_PORT))
        except OSError:
            break
        finally:
            s.close()
        time.sleep(0.2)
    else:
        pytest.fail("host port %d still open after the container was removed" % WEB_PORT)


HOST_NET_PORT = 22001  # ports of the guest-listener test: 22000-22099
SSH_SERVICE_PORT = 22002
GUEST_LOOPBACK_PORT = 22003
PUBLISHED_PORT = 22004
GUEST_V6_LOOPBACK_PORT = 22005
LOOPBACK_PUBLISHED_PORT = 22006
# In the guest, over `berth ssh`: three services started by hand (more sshds, which the guest
# has): one on every address, one on the guest's 127.0.0.1 only, one on its [::1] only.
SSH_SERVICES = ("/usr/sbin/sshd -p %d && /usr/sbin/sshd -o ListenAddress=127.0.0.1:%d && "
                "/usr/sbin/sshd -o ListenAddress=[::1]:%d"
                % (SSH_SERVICE_PORT, GUEST_LOOPBACK_PORT, GUEST_V6_LOOPBACK_PORT))


def _pkill(pattern, port):
    """A pkill of the sshd whose command line has `pattern` followed by `port`; the last digit in
    brackets, so the pattern does not match the shell that runs pkill."""
    return "pkill -f '%s%d[%d]'" % (pattern, port // 10, port % 10)


SSH_SERVICES_STOP = " ; ".join([_pkill("sshd -p ", SSH_SERVICE_PORT),
                                _pkill("ListenAddress=127.0.0.1:", GUEST_LOOPBACK_PORT),
                                _pkill("ListenAddress=\\[::1\\]:", GUEST_V6_LOOPBACK_PORT)])


def _banner(port, timeout=30):
    """The first bytes a server on 127.0.0.1:port sends, waiting up to `timeout` s (b"" if none)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = socket.socket()
        s.settimeout(3)
        try:
            s.connect(("127.0.0.1", port))
            data = s.recv(64)
            if data:
                return data
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.2)
    return b""


def _forward(world, port):
    """The status's forward to guest port `port` on 127.0.0.1, or None."""
    status = json.loads(berth(world["home"], "status", "--json").stdout)
    for f in status.get("forwards", []):
        if f.get("guestPort") == port and f.get("host") == "127.0.0.1:%d" % port:
            return f, status
    return None, status


def test_03a_guest_listeners_are_forwarded(world):
    """Ports no container publishes (a --network host container, a service started with berth
    ssh) are read from the guest's socket table over ssh and forwarded to host loopback, also a
    service on the guest's 127.0.0.1 only (a DNAT in the guest from 10.0.2.15, where QEMU's
    hostfwd delivers) and a port a container publishes there; sshd's and dockerd's ports are
    not; a service on the guest's [::1] only is listed once as not forwarded (QEMU's user
    network is IPv4); a published port stays the container's forward (docker-proxy listens in
    the guest too)."""
    home = world["home"]
    t_test = time.monotonic()
    log_path = os.path.join(home, "default", "daemon.log")
    docker(home, "run", "-d", "--name", "pub", "-p", "%d:80" % PUBLISHED_PORT,
           "-p", "127.0.0.1:%d:80" % LOOPBACK_PUBLISHED_PORT, "bb", "sh", "-c",
           "mkdir -p /www && echo published > /www/index.html && httpd -f -p 80 -h /www")
    t0 = time.monotonic()
    docker(home, "run", "-d", "--name", "hostnet", "--network", "host", "bb", "sh", "-c",
           "mkdir -p /www && echo from-the-host-network > /www/index.html && "
           "httpd -f -p %d -h /www" % HOST_NET_PORT)
    try:
        assert _answers(HOST_NET_PORT, timeout=30) == b"from-the-host-network\n"
        print("\n--network host port answered on the host %.2fs after docker run returned"
              % (time.monotonic() - t0))
        _guest(world, SSH_SERVICES, timeout=120)
        t0 = time.monotonic()
        assert _banner(SSH_SERVICE_PORT).startswith(b"SSH-2.0-"), "the berth ssh service never answered"
        print("berth ssh service answered on the host %.2fs after berth ssh returned"
              % (time.monotonic() - t0))
        assert _banner(GUEST_LOOPBACK_PORT, timeout=15).startswith(b"SSH-2.0-"), \
            "the service on the guest's 127.0.0.1 never answered on the host"
        print("service on the guest's 127.0.0.1 answered on the host %.2fs after berth ssh returned"
              % (time.monotonic() - t0))
        assert _answers(PUBLISHED_PORT, timeout=30) == b"published\n"
        assert _answers(LOOPBACK_PUBLISHED_PORT, timeout=30) == b"published\n", \
            "a port published on the guest's 127.0.0.1 never answered on the host"
        time.sleep(3)  # three more polls of the guest's table
        for port in (HOST_NET_PORT, SSH_SERVICE_PORT, GUEST_LOOPBACK_PORT):
            forward, status = _forward(world, port)
            assert forward and forward["origin"] == "guest listener", status["forwards"]
            assert forward["guestLoopback"] == (port == GUEST_LOOPBACK_PORT), forward
        for port in (PUBLISHED_PORT, LOOPBACK_PUBLISHED_PORT):
            forward, status = _forward(world, port)
            assert forward and forward["origin"] == "container", status["forwards"]
            assert forward["container"] == "pub", forward
        origins = [(f["guestPort"], f["origin"]) for f in status["forwards"]]
        assert (PUBLISHED_PORT, "guest listener") not in origins, origins
        # Only the test's: the guest's containerd runs without its CRI plugin, whose stream
        # server would listen on a random port of the guest's 127.0.0.1.
        listeners = {p for p, origin in origins if origin == "guest listener"}
        assert listeners == {HOST_NET_PORT, SSH_SERVICE_PORT, GUEST_LOOPBACK_PORT}, origins
        for port in (22, 2376, GUEST_V6_LOOPBACK_PORT):  # sshd, dockerd, the guest's [::1]
            assert port not in [p for p, _ in origins], origins
        # QEMU's user network is IPv4: no [::1] forward is planned (none fails every second).
        assert not [f for f in status["forwards"] if f["host"].startswith("[")], status["forwards"]
        assert status["forwardConflicts"] == [], status["forwardConflicts"]
        refused = [(r["guestPort"], r["origin"]) for r in status["forwardRefused"]]
        assert refused == [(GUEST_V6_LOOPBACK_PORT, "guest listener")], status["forwardRefused"]
        assert "IPv6" in status["forwardRefused"][0]["error"], status["forwardRefused"]
        assert _refused(GUEST_V6_LOOPBACK_PORT, timeout=1)
        assert status["forwardGuestListeners"].startswith("on"), status["forwardGuestListeners"]
        human = berth(home, "status").stdout.decode()
        for port in (HOST_NET_PORT, SSH_SERVICE_PORT, GUEST_LOOPBACK_PORT):
            assert "forward: tcp 127.0.0.1:%d -> guest listener :%d" % (port, port) in human, human
        assert ("not forwarded: tcp 127.0.0.1:%d for guest listener :%d: "
                % (GUEST_V6_LOOPBACK_PORT, GUEST_V6_LOOPBACK_PORT) in human), human
        assert "forwarding guest listeners: on" in human, human
        # Said once, not at every retry.
        log = open(log_path, errors="replace").read()
        assert log.count("127.0.0.1:%d" % GUEST_V6_LOOPBACK_PORT) == 1, log[-3000:]
        assert "cannot open tcp [::1]" not in log, log[-3000:]
        rules = _guest(world, "iptables -t nat -S BERTH-LOOPBACK", timeout=120)
        for port in (GUEST_LOOPBACK_PORT, LOOPBACK_PUBLISHED_PORT):
            assert "--dport %d " % port in rules, rules
    finally:
        docker(home, "rm", "-f", "hostnet", "pub", check=False)
        berth(home, "ssh", "--", SSH_SERVICES_STOP, check=False, timeout=120)
    t0 = time.monotonic()
    assert _refused(HOST_NET_PORT), "the --network host port stayed open after docker rm -f"
    assert _refused(SSH_SERVICE_PORT), "the berth ssh service's port stayed open after it ended"
    assert _refused(GUEST_LOOPBACK_PORT), "the guest's 127.0.0.1 service's port stayed open after it ended"
    assert _refused(LOOPBACK_PUBLISHED_PORT), "a port published on the guest's 127.0.0.1 stayed open"
    print("the host ports closed %.2fs after their listeners ended" % (time.monotonic() - t0))
    for port in (HOST_NET_PORT, GUEST_LOOPBACK_PORT):
        assert _forward(world, port)[0] is None
    # The guest's redirects go with their listeners (one ssh each way: slow on a loaded TCG host),
    # and none is left: nothing else listens on the guest's 127.0.0.1 (no CRI stream server).
    deadline = time.monotonic() + 60
    while True:
        rules = _guest(world, "iptables -t nat -S BERTH-LOOPBACK", timeout=120)
        if "-j DNAT" not in rules:
            break
        assert time.monotonic() < deadline, ("the guest's DNAT rules stayed after their listeners",
                                             rules, open(log_path, errors="replace").read()[-4000:])
        time.sleep(1)
    status = json.loads(berth(home, "status", "--json").stdout)
    assert status["forwardRefused"] == [], status["forwardRefused"]
    assert not [f for f in status["forwards"] if f["origin"] == "guest listener"], status["forwards"]
    print("test_03a (guest listeners) took %.1fs" % (time.monotonic() - t_test))


WAKE_PORT = 21083


def _wake_state(world, port):
    """The `wake` of the forward on 127.0.0.1:port ("asleep"/"waking"/"awake"), or None."""
    status = json.loads(berth(world["home"], "status", "--json").stdout)
    for f in status.get("forwards", []):
        if f.get("host") == "127.0.0.1:%d" % port:
            return f.get("wake")
    return None


def _wait(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    pytest.fail("%s: not within %ds" % (what, timeout))


def test_03b_a_wake_container_starts_on_its_first_connection(world):
    """berth.wake=true on qemu: berth holds the stopped container's port itself (QEMU's hostfwd
    would hold it, and berth would never see the connection), starts the container on the first
    connections, which all get the page, and berth.idle stops it again with the port held (the
    next wake after it is tests/integration/test_wake.py's, on ns: a cold start costs ~40 s
    here)."""
    home = world["home"]
    status = json.loads(berth(home, "status", "--json").stdout)
    assert status["wake"] == {"enabled": True}, status["wake"]
    # Under TCG on a loaded 2-core host a container's start alone took 35-43 s (plain `docker
    # start` too): a wake timeout past that, not the default 30 s.
    docker(home, "create", "--name", "sleeper", "--label", "berth.wake=true", "--label",
           "berth.wake.timeout=150s", "--label", "berth.idle=3s", "--stop-timeout", "1", "-p",
           "%d:80" % WAKE_PORT, "bb", "sh", "-c",
           "mkdir -p /www && echo woken > /www/index.html && httpd -f -p 80 -h /www")
    try:
        _wait("port %d held asleep" % WAKE_PORT, lambda: _wake_state(world, WAKE_PORT) == "asleep",
              30)
        results = []

        def first_get():
            try:
                results.append(_get("http://127.0.0.1:%d/" % WAKE_PORT, timeout=170))
            except Exception as e:  # noqa: BLE001 - reported below
                results.append(e)

        t0 = time.monotonic()
        clients = [threading.Thread(target=first_get) for _ in range(8)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        print("\n8 concurrent first connections answered in %.2fs (cold wake on qemu)"
              % (time.monotonic() - t0))
        assert results == [b"woken\n"] * 8, results
        inspect = docker(home, "inspect", "-f", "{{.State.Running}}", "sleeper").stdout
        assert inspect == b"true\n"
        t0 = time.monotonic()
        _wait("berth.idle=3s stops it", lambda: docker(
            home, "inspect", "-f", "{{.State.Running}}", "sleeper").stdout == b"false\n", 120)
        print("berth.idle stopped it %.1fs after its last connection" % (time.monotonic() - t0))
        _wait("its port held asleep again", lambda: _wake_state(world, WAKE_PORT) == "asleep", 30)
    finally:
        docker(home, "rm", "-f", "sleeper", check=False)


def _by_name(port, name, timeout=120):
    """(status, body, seconds) of GET / with Host <name>.default.berth.localhost on the front."""
    p = run(["curl", "-s", "-o", "-", "-w", "\n%{http_code} %{time_total}", "--max-time", str(timeout),
             "-H", "Host: %s.default.berth.localhost" % name, "http://127.0.0.1:%d/" % port],
            check=False, timeout=timeout + 10)
    body, _, tail = p.stdout.decode(errors="replace").rpartition("\n")
    code, seconds = tail.split()
    return int(code), body, float(seconds)


def test_03c_containers_by_name_reach_addresses_in_the_vm(world):
    """Containers by name on qemu (issue 18 part 2): the names front reaches container addresses
    inside the VM through the driver's dialer (an `ssh -D` SOCKS proxy on a unix socket; the
    guest's sshd makes each connection). Two busybox httpd on the same internal port and no
    published port answer by Host; an unknown name gets the 404 page, a container that does
    not listen the 502 one (the proxy reports the refusal)."""
    home = world["home"]
    t_test = time.monotonic()
    web = "mkdir -p /www && echo page-%s > /www/index.html && httpd -f -p 80 -h /www"
    names = ("byname1", "byname2")
    for name in names:
        docker(home, "run", "-d", "--name", name, "--expose", "80", "bb", "sh", "-c", web % name)
    docker(home, "run", "-d", "--name", "bydeaf", "--expose", "80", "bb", "sleep", "600")
    try:
        domains = json.loads(berth(home, "status", "--json").stdout)["domains"]
        assert domains["enabled"] is True, domains
        port = domains["port"]
        assert "names: http://<container>.default.berth.localhost:%d/" % port in \
            berth(home, "status").stdout.decode()
        deadline = time.monotonic() + 120
        while not set(names) | {"bydeaf"} <= set(
                json.loads(berth(home, "status", "--json").stdout)["domains"]["names"]):
            assert time.monotonic() < deadline, "the containers were not listed by name"
            time.sleep(0.5)
        for name in names:
            code, body, first = _by_name(port, name)
            assert (code, body.strip()) == (200, "page-" + name), (code, body)
            again = [_by_name(port, name) for _ in range(3)]
            assert all((c, b.strip()) == (200, "page-" + name) for c, b, _ in again), again
            print("\n%s by name: first request %.3f s, again %s s" % (
                name, first, " ".join("%.3f" % t for _, _, t in again)))
        assert docker(home, "inspect", "-f", "{{json .HostConfig.PortBindings}}",
                      names[0]).stdout.strip() in (b"{}", b"null")
        code, body, _ = _by_name(port, "nope")
        assert code == 404, (code, body)
        assert "&lt;container&gt;.default.berth.localhost" in body and "byname1" in body, body
        code, body, _ = _by_name(port, "bydeaf")
        assert code == 502 and "did not accept" in body, (code, body)
    finally:
        docker(home, "rm", "-f", *names, "bydeaf", check=False)
    print("test_03c (containers by name) took %.1fs" % (time.monotonic() - t_test))


def test_04_ssh_runs_a_command_in_the_guest(world):
    out = berth(world["home"], "ssh", "--", "uname", "-a", timeout=120).stdout
    assert out.startswith(b"Linux berth "), out
    config = berth(world["home"], "ssh-config").stdout.decode()
    assert "Host berth-default" in config and "IdentityFile " + world["state"] in config
    # Something mounted over the guest's /root (the host's home is /root when berth runs as
    # root, and it is shared by default) must not lock berth ssh out: the key is kept outside.
    berth(world["home"], "ssh", "--", "mount", "-t", "tmpfs", "berth-test", "/root", timeout=120)
    try:
        out = berth(world["home"], "ssh", "--", "ls", "-A", "/root", timeout=120).stdout
        assert out == b"", out  # /root/.ssh is hidden, and ssh still works
    finally:
        berth(world["home"], "ssh", "--", "umount", "-l", "/root", timeout=120)  # the shell sits in it


# In the guest: a local apt repository (file: URI, trusted) holding the guest's own docker.io
# .deb repacked under a higher version (same files, Debian revision + "+berth1"), so `berth
# update` has a real newer package to move to. Uncompressed (-Znone): xz under TCG is slow.
LOCAL_REPO_SETUP = r"""set -e
export LC_ALL=C
rm -rf /srv/berth-repo /tmp/berth-repack
mkdir -p /srv/berth-repo /tmp/berth-repack
cd /tmp/berth-repack
apt-get download -q docker.io >/dev/null
deb=$(ls docker.io_*.deb)
dpkg-deb -R "$deb" tree
new=$(sed -n 's/^Version: //p' tree/DEBIAN/control)+berth1
sed -i "s/^Version: .*/Version: $new/" tree/DEBIAN/control
out=/srv/berth-repo/docker.io_${new}_amd64.deb
dpkg-deb -Znone -b tree "$out" >/dev/null
cd /srv/berth-repo
{ dpkg-deb -f "$out"; echo "Filename: ./$(basename "$out")"; echo "Size: $(stat -c %s "$out")"
  echo "SHA256: $(sha256sum "$out" | cut -d' ' -f1)"; echo; } >Packages
echo 'deb [trusted=yes] file:/srv/berth-repo ./' >/etc/apt/sources.list.d/berth-update-test.list
rm -rf /tmp/berth-repack
echo "$new"
"""
LOCAL_REPO_CLEANUP = ("rm -rf /srv/berth-repo /tmp/berth-repack "
                      "/etc/apt/sources.list.d/berth-update-test.list "
                      "/var/lib/apt/lists/*berth-repo*")


def _guest(world, script, timeout=600):
    return berth(world["home"], "ssh", "--", script, timeout=timeout).stdout.decode().strip()


def test_04a_update_moves_docker_io_to_the_guests_newer_package(world):
    home = world["home"]
    t_test = time.monotonic()
    installed = lambda: _guest(world, "dpkg-query -W -f='${Version}' docker.io", timeout=120)
    before = installed()
    engine = docker(home, "version", "--format", "{{.Server.Version}}").stdout.decode().strip()
    t0 = time.monotonic()
    # Debian's own source: normally the image's version is its newest; either way a dry run
    # changes nothing.
    p = berth(home, "update", "--dry-run")
    out = p.stdout.decode()
    assert ("docker.io %s is already the newest, nothing to update" % before in out
            or "would update docker.io: %s -> " % before in out), (out, p.stderr)
    assert b"apt-get update in the guest" in p.stderr, p.stderr
    assert installed() == before
    print("\nberth update --dry-run (Debian's source) took %.1fs" % (time.monotonic() - t0))
    try:
        t0 = time.monotonic()
        newer = _guest(world, LOCAL_REPO_SETUP).splitlines()[-1]
        print("local repository with docker.io %s made in %.1fs" % (newer, time.monotonic() - t0))
        assert newer.endswith("+berth1"), newer
        docker(home, "run", "--rm", "-v", "upd-data:/data", "bb", "sh", "-c", "echo kept > /data/f")
        docker(home, "run", "-d", "--name", "keeper", "--restart", "always", "bb", "sleep", "36000")
        docker(home, "run", "-d", "--name", "once", "bb", "sleep", "36000")

        t0 = time.monotonic()
        p = berth(home, "update", "--dry-run")
        print("berth update --dry-run (local source) took %.1fs" % (time.monotonic() - t0))
        assert "would update docker.io: %s -> %s" % (before, newer) in p.stdout.decode(), p.stdout
        assert "nothing was changed" in p.stdout.decode()
        assert installed() == before

        t0 = time.monotonic()
        p = berth(home, "update")
        print("berth update took %.1fs" % (time.monotonic() - t0))
        out = p.stdout.decode()
        assert "docker.io %s -> %s" % (before, newer) in out, (out, p.stderr)
        assert "dockerd %s answers" % engine in out, out
        assert "1 container(s) with restart policies running again" in out, out
        assert b"installing docker.io" in p.stderr and b"restarting docker" in p.stderr, p.stderr
        assert installed() == newer
        # The engine restarted: the always-container is back, the other one stays stopped; the
        # image and the named volume's data are kept.
        state = lambda name: docker(home, "inspect", "-f", "{{.State.Running}}", name) \
            .stdout.decode().strip()
        assert state("keeper") == "true"
        assert state("once") == "false"
        out = docker(home, "run", "--rm", "-v", "upd-data:/data", "bb", "cat", "/data/f").stdout
        assert out == b"kept\n"
    finally:
        _guest(world, LOCAL_REPO_CLEANUP, timeout=120)
        docker(home, "rm", "-f", "keeper", "once", check=False)
        docker(home, "volume", "rm", "upd-data", check=False)
    print("test_04a (berth update) took %.1fs" % (time.monotonic() - t_test))


NS_HOME = "/tmp/berth-ns"  # in the guest: the ns driver's binary and BERTH_HOME


def _copy_berth_for_the_guest(world):
    """berth, the libraries the guest lacks (the guest is the same Debian release: all but the
    C/C++ runtime), and the busybox image, into the host folder shared into the guest."""
    kit = os.path.join(world["share"], "ns-kit")
    os.makedirs(os.path.join(kit, "lib"), exist_ok=True)
    shutil.copy2(BERTH_BIN, os.path.join(kit, "berth"))
    runtime = ("libc.so", "libm.so", "libstdc++.so", "libgcc_s.so", "ld-linux", "linux-vdso")
    for line in run(["ldd", BERTH_BIN]).stdout.decode().splitlines():
        parts = line.split()
        if "=>" in parts and not parts[0].startswith(runtime):
            shutil.copy2(parts[parts.index("=>") + 1], os.path.join(kit, "lib", parts[0]))
    docker(world["home"], "save", "-o", os.path.join(kit, "bb.tar"), "bb")
    return kit


def test_04b_ns_driver_limits_its_guest_with_a_cgroup_v2_group(world):
    """Issue 13 item 7 on cgroup v2 (the guest's systemd runs the unified hierarchy, the CI host
    has v1): berth's ns driver inside the qemu guest puts dockerd, containerd and every
    container in one group with cpu.max and memory.max; a container past the memory is
    OOM-killed, one below survives; delete removes the group."""
    t_test = time.monotonic()
    kit = _copy_berth_for_the_guest(world)
    env = "export BERTH_HOME=%s/home LD_LIBRARY_PATH=%s/lib DOCKER_HOST=unix://%s/home/default/" \
          "docker.sock; " % (NS_HOME, kit, NS_HOME)
    # A local copy: a binary running from the share breaks when the host rewrites it.
    ns_berth = lambda args: _guest(world, env + NS_HOME + "/berth " + args + " 2>&1", timeout=300)
    _guest(world, "mkdir -p %s && cp %s/berth %s/" % (NS_HOME, kit, NS_HOME), timeout=120)
    try:
        t0 = time.monotonic()
        out = ns_berth("start --no-activate --vm-type ns --cpus 1 --memory 0.25")
        print("\nberth start --vm-type ns in the guest took %.1fs" % (time.monotonic() - t0))
        assert "is running" in out, out
        groups = _guest(world, "cd /sys/fs/cgroup && ls -d berth-*", timeout=120).split()
        assert len(groups) == 1, groups
        group = "/sys/fs/cgroup/" + groups[0]
        read = lambda f: _guest(world, "cat %s/%s" % (group, f), timeout=120)
        shown = {f: read(f) for f in ("cpu.max", "memory.max", "cgroup.subtree_control")}
        print("guest's %s: %s" % (group, shown))
        assert shown["cpu.max"] == "100000 100000"
        assert shown["memory.max"] == str(256 * 1024 * 1024)
        assert set(shown["cgroup.subtree_control"].split()) >= {"cpu", "memory"}
        # The guest's own processes (not the guest system's dockerd and containerd) are in it.
        procs = _guest(world, "ps -eo comm=,cgroup=", timeout=120).splitlines()
        inside = {line.split()[0] for line in procs if ("0::/%s/" % groups[0]) in line}
        assert {"dockerd", "containerd", "berth-guest"} <= inside, procs

        _guest(world, env + "docker load -i %s/bb.tar" % kit, timeout=300)
        t0 = time.monotonic()
        hog = berth(world["home"], "ssh", "--", env + "docker run --name hog bb dd if=/dev/zero "
                    "of=/dev/null bs=300M count=1", timeout=300, check=False)
        print("a 300 MiB container in the 256 MiB guest: exit %d after %.1fs"
              % (hog.returncode, time.monotonic() - t0))
        assert hog.returncode == 137, (hog.returncode, hog.stdout, hog.stderr)
        events = dict(line.split() for line in read("memory.events").splitlines())
        print("memory.events: %s; docker's OOMKilled: %s" % (events, _guest(
            world, env + "docker inspect -f '{{.State.OOMKilled}}' hog", timeout=120)))
        assert int(events["oom_kill"]) >= 1, events
        # 20 MiB fit, and the container's cgroup is below the guest's group.
        out = _guest(world, env + "docker run --rm --cgroupns host bb sh -c 'cat /proc/self/cgroup "
                     "&& dd if=/dev/zero of=/dev/null bs=20M count=1 2>/dev/null && echo survived'",
                     timeout=300)
        assert out.startswith("0::/%s/" % groups[0]) and out.endswith("survived"), out

        t0 = time.monotonic()
        out = ns_berth("delete -f --data")
        print("berth delete -f --data in the guest took %.1fs" % (time.monotonic() - t0))
        assert "deleted profile" in out, out
        assert _guest(world, "ls /sys/fs/cgroup", timeout=120).split().count(groups[0]) == 0
    finally:
        _guest(world, env + NS_HOME + "/berth delete -f --data >/dev/null 2>&1; rm -rf " + NS_HOME,
               timeout=300)
        shutil.rmtree(kit, ignore_errors=True)
    print("test_04b (ns driver in the guest) took %.1fs" % (time.monotonic() - t_test))


def test_05_stop_then_start_resumes_the_saved_state(world):
    t0 = time.monotonic()
    berth(world["home"], "stop", timeout=300)
    print("\nberth stop (save the VM state, quit) took %.1fs" % (time.monotonic() - t0))
    assert not qemu_pids(world["state"]), "QEMU still runs after berth stop"
    t0 = time.monotonic()
    p = berth(world["home"], "start", "--no-activate")
    report("resume: berth start took %.1fs" % (time.monotonic() - t0), p.stderr)
    assert b"resumed" in p.stderr, p.stderr
    # The disk kept what the first boot wrote (the bb image) and the share is mounted again.
    out = docker(world["home"], "run", "--rm", "-v", world["share"] + ":/data", "bb", "cat",
                 "/data/from-guest.txt").stdout
    assert out == b"written-in-guest\n"
    # The guest's clock was set on resume (TLS and container timestamps depend on it).
    guest_now = int(berth(world["home"], "ssh", "--", "date", "+%s", timeout=120).stdout)
    assert abs(guest_now - time.time()) < 30


def _daemon_pid(world):
    with open(os.path.join(world["home"], "default", "daemon.pid")) as f:
        return int(f.read().strip())


def _kill_daemon(world):
    """kill -9 of the profile daemon (not of QEMU): the guest is left running on its own."""
    pid = _daemon_pid(world)
    os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists("/proc/%d/stat" % pid):
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.1)
    return pid


def _answers(port, timeout=60):
    """The body served on 127.0.0.1:port, waiting for it up to `timeout` s (None if never)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return _get("http://127.0.0.1:%d/" % port)
        except Exception:
            time.sleep(0.2)
    return None


def _refused(port, timeout=10):
    """True once nothing accepts on 127.0.0.1:port (QEMU's forward and berth's are gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            return True
        finally:
            s.close()
        time.sleep(0.2)
    return False


def _hmp(world, command):
    """One monitor command over the guest's QMP socket (free while no daemon runs)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(os.path.join(world["state"], "qmp.sock"))
    f = s.makefile("rw")
    json.loads(f.readline())  # greeting
    for request in ({"execute": "qmp_capabilities"},
                    {"execute": "human-monitor-command", "arguments": {"command-line": command}}):
        f.write(json.dumps(request) + "\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if "event" not in reply:
                break
    s.close()
    return reply["return"]


def test_05a_start_adopts_the_guest_of_a_killed_daemon(world):
    home = world["home"]
    web = "mkdir -p /www && echo %s > /www/index.html && httpd -f -p 80 -h /www"
    kept = docker(home, "run", "-d", "--restart=no", "--name", "kept", "-p", "%d:80" % KEPT_PORT,
                  "-v", world["share"] + ":/data", "bb", "sh", "-c", web % "still-here").stdout.decode().strip()
    assert _answers(KEPT_PORT) == b"still-here\n"
    qemu = qemu_pids(world["state"])
    assert len(qemu) == 1, qemu
    _kill_daemon(world)
    assert qemu_pids(world["state"]) == qemu, "QEMU did not outlive its daemon"
    # status and list tell the truth: the guest runs, its daemon does not (exit 1).
    p = berth(home, "status", "--json", check=False)
    assert p.returncode == 1
    status = json.loads(p.stdout)
    assert status["status"] == "Running" and not status["daemon"]["running"], status
    assert "`berth start` adopts it" in status["guest"]["detail"], status
    p = berth(home, "status", check=False)
    assert p.returncode == 1 and b"(daemon not running: `berth start` adopts it)" in p.stderr, p
    assert b"Running (no daemon)" in berth(home, "list", check=False).stdout
    # A forward the dead daemon left for a port no container publishes any more (as when a
    # container goes away while no daemon runs; made over QMP here, which costs no guest time):
    # adoption must remove it.
    assert _hmp(world, "hostfwd_add net0 tcp:127.0.0.1:%d-:%d" % (GONE_PORT, KEPT_PORT)) == ""
    assert _answers(GONE_PORT, timeout=5) == b"still-here\n"

    t0 = time.monotonic()
    p = berth(home, "start", "--no-activate")
    took = time.monotonic() - t0
    report("adoption: berth start took %.1fs" % took, p.stderr)
    print("adoption: berth start took %.1fs" % took)
    assert b"adopted the guest left running by an earlier daemon" in p.stderr, p.stderr
    assert b"qemu: booting" not in p.stderr and b"qemu: resuming" not in p.stderr, p.stderr
    assert qemu_pids(world["state"]) == qemu, "not the same QEMU"
    log = open(os.path.join(home, "default", "daemon.log"), errors="replace").read()
    assert "adopted the guest left running" in log
    # The same container still runs, its port answers through the new daemon's forward, and
    # the forward no container publishes is gone.
    running = docker(home, "ps", "-q", "--no-trunc").stdout.decode().split()
    assert kept in running, running
    assert _answers(KEPT_PORT, timeout=30) == b"still-here\n"
    assert _refused(GONE_PORT), "a forward the dead daemon left is still open"
    assert docker(home, "exec", "kept", "cat", "/data/from-guest.txt").stdout == b"written-in-guest\n"
    status = json.loads(berth(home, "status", "--json").stdout)
    assert status["daemon"]["running"] and status["status"] == "Running", status
    assert any(f.get("guestPort") == KEPT_PORT for f in status.get("forwards", [])), status
    conflicts = [c for c in status.get("forwardConflicts", [])
                 if c.get("host", "").startswith("127.0.0.1:")]  # [::1]: QEMU has no IPv6 hostfwd
    assert not conflicts, conflicts
    # The forward is the new daemon's own: it closes when the container goes.
    docker(home, "rm", "-f", "kept")
    assert _refused(KEPT_PORT), "port %d still open after the container was removed" % KEPT_PORT


def test_05b_stop_stops_the_guest_of_a_killed_daemon(world):
    home = world["home"]
    _kill_daemon(world)
    assert len(qemu_pids(world["state"])) == 1
    t0 = time.monotonic()
    p = berth(home, "stop", timeout=300)
    print("\nberth stop of the guest of a killed daemon took %.1fs" % (time.monotonic() - t0))
    assert b"left running by a daemon that did not exit cleanly" in p.stderr, p.stderr
    assert not qemu_pids(world["state"]), "QEMU still runs after berth stop"
    p = berth(home, "status", "--json", check=False)
    assert p.returncode == 1 and json.loads(p.stdout)["status"] == "Stopped", p.stdout
    # It was stopped as the daemon stops it: its state was saved, so the next start resumes.
    t0 = time.monotonic()
    p = berth(home, "start", "--no-activate")
    report("resume after stopping an orphan: berth start took %.1fs" % (time.monotonic() - t0), p.stderr)
    assert b"resumed" in p.stderr, p.stderr
    assert docker(home, "version", "--format", "{{.Server.Version}}").stdout.strip()


def test_06_a_crashed_qemu_is_reported(world):
    pids = qemu_pids(world["state"])
    assert len(pids) == 1, pids
    os.kill(pids[0], 9)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = json.loads(berth(world["home"], "status", "--json", check=False).stdout or b"{}")
        if status.get("status") == "Broken":
            break
        time.sleep(0.2)
    assert status.get("status") == "Broken", status
    # The detail names how qemu ended (here: the signal) and where its log is.
    detail = status["guest"]["detail"]
    assert "qemu was killed by signal 9" in detail, status
    assert "qemu.log" in detail, status


def test_07_delete_leaves_nothing_behind(world):
    berth(world["home"], "delete", "-f", "--data", timeout=300)
    assert not qemu_pids(world["home"])
    assert not os.path.exists(os.path.join(world["home"], "default"))



def test_07a_a_downloaded_image_boots(world):
    """A fresh profile whose image.url names the suite's guest image, served over local HTTPS:
    `berth start --vm-type qemu` downloads it into a private image cache, checks image.sha256,
    boots it and runs a container. The archive, the cache and the home are removed after."""
    source = os.environ.get("BERTH_E2E_IMAGE") or \
        berth(world["home"], "image", "build").stdout.decode().strip().splitlines()[-1]
    t_test = time.monotonic()
    scratch = short_tmpdir("qemu-dl")
    home, cache = os.path.join(scratch, "home"), os.path.join(scratch, "cache")
    os.makedirs(home, mode=0o700)
    site = Site()
    server = HttpsServer(site, "qemu-https")
    env = {"BERTH_IMAGE_CACHE": cache, "SSL_CERT_FILE": server.ca, "BERTH_GUEST_IMAGE": ""}
    archive = os.path.join(scratch, "guest.tar")
    try:
        t0 = time.monotonic()
        with tarfile.open(archive, "w") as t:  # uncompressed: the qcow2 is already as small
            for name in ("disk.qcow2", "vmlinuz", "initrd.img"):
                t.add(os.path.join(source, name), arcname=name)
        digest = hashlib.sha256()
        with open(archive, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest = digest.hexdigest()
        with open(archive, "rb") as f:  # served from the page cache, not copied into memory
            site.files["/guest.tar"] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        url = server.url + "/guest.tar"
        print("\narchive of %d MB made and hashed in %.1fs" % (
            os.path.getsize(archive) >> 20, time.monotonic() - t0))
        os.makedirs(os.path.join(home, "dl"), mode=0o700)
        with open(os.path.join(home, "dl", "berth.yaml"), "w") as f:
            f.write("vmType: qemu\nimage:\n  url: %s\n  sha256: %s\n" % (url, digest))

        t0 = time.monotonic()
        p = berth(home, "start", "-p", "dl", "--no-activate", "--cpus", "2", "--memory", "2",
                  "--mount", world["share"] + ":w", env_extra=env)
        report("downloaded image: berth start took %.1fs" % (time.monotonic() - t0), p.stderr)
        assert b"downloading the qemu guest image from " + url.encode() in p.stderr, p.stderr
        assert b"boot phases" in p.stderr, p.stderr
        assert site.requests == ["/guest.tar"], site.requests
        folder = os.path.join(cache, "sha256-" + digest)
        assert sorted(os.listdir(cache)) == ["sha256-" + digest], os.listdir(cache)
        pids = qemu_pids(home)
        assert len(pids) == 1, pids
        with open("/proc/%d/cmdline" % pids[0], "rb") as f:  # it boots the downloaded kernel
            assert (folder + "/vmlinuz").encode() in f.read().split(b"\0")
        run(["bash", HARNESS, "import-bb", os.path.join(home, "dl", "docker.sock"),
             os.path.join(scratch, "bb")])
        assert docker(home, "run", "--rm", "bb", "echo", "ok", profile="dl").stdout == b"ok\n"
    finally:
        berth(home, "delete", "-f", "--data", "-p", "dl", check=False, timeout=300, env_extra=env)
        for pid in qemu_pids(home):
            os.kill(pid, 9)
        site.files.clear()
        server.close()
        shutil.rmtree(scratch, ignore_errors=True)
    assert not qemu_pids(home)
    print("test_07a (downloaded image) took %.1fs" % (time.monotonic() - t_test))


def _raw_get(sock_path, path, timeout=600):
    conn = http.client.HTTPConnection("localhost", timeout=timeout)
    conn.sock = socket.socket(socket.AF_UNIX)
    conn.sock.settimeout(timeout)
    conn.sock.connect(sock_path)
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def test_08_dockerd_that_never_answers_gives_503_and_leaves_nothing_running(world):
    home = world["home"]
    # A daemon.json dockerd refuses: the guest boots, dockerd never listens.
    os.makedirs(os.path.join(home, "broken"), mode=0o700)
    with open(os.path.join(home, "broken", "berth.yaml"), "w") as f:
        f.write("vmType: qemu\nmounts: []\ndocker:\n  no-such-dockerd-option: true\n")
    berth(home, "start", "--no-activate", "-p", "broken", "--lazy",
          env_extra={"BERTH_QEMU_BOOT_TIMEOUT": "45"})
    t0 = time.monotonic()
    status, body = _raw_get(os.path.join(home, "broken", "docker.sock"), "/v1.41/version")
    print("\nfailed boot answered %d after %.1fs: %s" % (status, time.monotonic() - t0, body[:300]))
    assert status == 503
    message = json.loads(body)["message"]
    assert "daemon.log" in message and "serial.log" in message, message
    state = os.path.join(home, "broken", "guest")
    assert not qemu_pids(state), "QEMU left running after the failed boot"
    berth(home, "delete", "-f", "--data", "-p", "broken", timeout=120)
    assert not os.path.exists(os.path.join(home, "broken"))
