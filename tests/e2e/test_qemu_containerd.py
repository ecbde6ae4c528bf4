"""The containerd runtime in a qemu guest (run by tests/ci/suites/90-vm-e2e.sh after
test_qemu_vm.py; TCG when there is no KVM). One lazy profile, one boot: the first `ctr` call
through the host's containerd.sock boots the guest, and the status then shows containerd's own
version and nothing of dockerd; images are imported and listed through the relay; `berth ctr`
runs ctr in the guest over ssh with output and exit codes passed through; nerdctl.binary (a
stand-in script: nerdctl is not obtainable here) is copied into the guest at boot and `berth
nerdctl` runs it; docker.sock answers one clear line; a killed containerd comes back with its
task still running; an idle stop, then the next ctr call boots the guest again without
copying nerdctl again; QEMU forwards no port to dockerd's 2376; delete leaves nothing running. Needs the guest image and root.
"""
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from berth_harness import BERTH_BIN, DOCKER, run, short_tmpdir, wait_until  # noqa: E402
from containerd_helpers import IMAGE, busybox_docker_archive, cni_bridge  # noqa: E402
from forwarding_helpers import (accepts, free_port, perl_udp_echo, refused, serves,  # noqa: E402
                                udp_bindable, udp_echoes)

CTR = shutil.which("ctr") or "/usr/bin/ctr"


def berth(home, *args, timeout=900, check=True):
    return run([BERTH_BIN, *args], env=dict(os.environ, BERTH_HOME=home), check=check,
               timeout=timeout)


def mentioning(home):
    """pids of processes whose command line names `home` (QEMU, the ssh forward, the daemon)."""
    out = subprocess.run(["pgrep", "-f", re.escape(home + "/")], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture(scope="module")
def world():
    home = short_tmpdir("qemu-ctrd")
    os.chmod(home, 0o700)
    w = {"home": home, "sock": os.path.join(home, "default", "containerd.sock")}
    yield w
    berth(home, "delete", "-f", "--data", check=False, timeout=120)
    for pid in mentioning(home):
        os.kill(pid, 9)
    shutil.rmtree(home, ignore_errors=True)


def ctr(world, *args, timeout=600, check=True):
    return run([CTR, "--address", world["sock"], "--connect-timeout", "600s", *args],
               timeout=timeout, check=check)


def status_json(world):
    return json.loads(berth(world["home"], "status", "--json", check=False).stdout.decode())


def server_version(ctr_version_output):
    """The Server part's Version of `ctr version` (what containerd says of itself)."""
    server = ctr_version_output.split("Server:")[1]
    return next(line.split()[1] for line in server.splitlines() if line.strip().startswith("Version:"))


# nerdctl.binary's stand-in: reports the words and environment it got, where it runs, its own
# mode and SHA-256 there, and exits 3.
STAND_IN = """#!/bin/sh
echo "argv: $*"
echo "exe: $0 $(stat -c %a "$0") $(sha256sum < "$0" | cut -d' ' -f1)"
echo "address: $CONTAINERD_ADDRESS"
echo "namespace: $CONTAINERD_NAMESPACE"
echo "host: $(cat /etc/hostname)"
exit 3
"""


def daemon_log(world):
    return open(os.path.join(world["home"], "default", "daemon.log")).read()


def test_01_the_first_ctr_call_boots_the_lazy_guest(world):
    image = ["--disk-image", os.environ["BERTH_E2E_IMAGE"]] if os.environ.get("BERTH_E2E_IMAGE") else []
    stand_in = os.path.join(world["home"], "nerdctl-stand-in")
    with open(stand_in, "w") as f:
        f.write(STAND_IN)
    os.chmod(stand_in, 0o755)
    os.makedirs(os.path.join(world["home"], "default"))
    with open(os.path.join(world["home"], "default", "berth.yaml"), "w") as f:
        f.write("vmType: qemu\nruntime: containerd\nnerdctl:\n  binary: %s\n" % stand_in)
    berth(world["home"], "start", "--no-activate", "--vm-type", "qemu", "--runtime", "containerd",
          "--cpus", "2", "--memory", "2", "--lazy", *image)
    status = berth(world["home"], "status").stdout.decode()
    assert "runtime: containerd" in status and "containerd socket: " + world["sock"] in status, status
    assert "idle" in status, status
    assert status_json(world)["containerdVersion"] is None
    t0 = time.monotonic()
    out = ctr(world, "version").stdout.decode()
    print("\nfirst ctr version (boots the guest): %.1fs" % (time.monotonic() - t0))
    assert "Server:" in out and "1.6" in out.split("Server:")[1], out
    # Up, with idle stop off: containerd.sock names the ssh forward's own socket (no relay).
    wait_until(lambda: status_json(world)["containerdSocketDirect"], 10,
               "containerd.sock to be handed to the ssh forward's socket")
    t0 = time.monotonic()
    ctr(world, "version")
    print("ctr version, containerd.sock handed to the forward, guest up: %.2fs"
          % (time.monotonic() - t0))
    # The status shows what containerd says its version is, and nothing of dockerd: no docker
    # socket or context, no engine TCP port in the guest's detail.
    version = server_version(out)
    s = status_json(world)
    assert s["containerdVersion"] == version, (s["containerdVersion"], out)
    assert (s["socket"], s["dockerHost"], s["context"]) == (None, None, None), s
    assert "engine 127.0.0.1" not in s["guest"]["detail"], s["guest"]
    # QEMU forwards the guest's sshd only: nothing listens on dockerd's 2376 in this guest.
    qemu_pid = int(open(os.path.join(world["home"], "default", "guest", "qemu.pid")).read())
    argv = open("/proc/%d/cmdline" % qemu_pid).read().split("\0")
    netdev = argv[argv.index("-netdev") + 1]
    assert "-:22" in netdev and ":2376" not in netdev, netdev
    assert "containerd's socket forwarded over it" in s["guest"]["detail"], s["guest"]
    text = berth(world["home"], "status").stdout.decode()
    assert "containerd version: %s\n" % version in text, text
    assert not any(line.startswith(("socket:", "context:")) for line in text.splitlines()), text
    listed = berth(world["home"], "list").stdout.decode().splitlines()
    assert "containerd " + version in listed[1], listed
    assert "nerdctl.binary copied to the guest's /usr/local/bin/nerdctl" in daemon_log(world)
    # containerd (its own unit) is the engine; dockerd never started.
    out = berth(world["home"], "ssh", "--", "systemctl is-active containerd docker; "
                "pgrep -x dockerd || echo no-dockerd", check=False).stdout.decode().split()
    assert out == ["active", "inactive", "no-dockerd"], out


def test_02_images_import_and_list_through_the_relay(world):
    tarball = os.path.join(world["home"], "bb.tar")
    busybox_docker_archive(tarball)
    t0 = time.monotonic()
    ctr(world, "images", "import", tarball)
    print("\nctr images import of %d bytes: %.1fs" % (os.path.getsize(tarball),
                                                     time.monotonic() - t0))
    assert IMAGE in ctr(world, "images", "ls", "-q").stdout.decode().split()


def test_03_berth_ctr_passes_output_and_exit_codes(world):
    p = berth(world["home"], "ctr", "--", "run", "--rm", IMAGE, "t1", "echo", "ok")
    assert p.stdout == b"ok\n", p
    # Words reach ctr as given: the quote and the spaces are not the guest shell's.
    p = berth(world["home"], "ctr", "--", "run", "--rm", IMAGE, "t2", "sh", "-c",
              "echo \"it's $0\"; exit 7", check=False)
    assert (p.returncode, p.stdout) == (7, b"it's sh\n"), p


def test_03b_berth_nerdctl_runs_the_copy_of_nerdctl_binary(world):
    """The stand-in (nerdctl.binary) was copied to /usr/local/bin/nerdctl in the guest at boot,
    mode 0755 and the same bytes; `berth nerdctl` runs that copy there with the words as given,
    containerd's address and the caller's namespace, and its exit code comes back."""
    stand_in = os.path.join(world["home"], "nerdctl-stand-in")
    digest = hashlib.sha256(open(stand_in, "rb").read()).hexdigest()
    env = dict(os.environ, BERTH_HOME=world["home"], CONTAINERD_NAMESPACE="k8s.io")
    p = run([BERTH_BIN, "nerdctl", "--", "ps", "-a", "it's x"], env=env, check=False, timeout=900)
    sock = "/run/containerd/containerd.sock"
    assert p.returncode == 3, p
    lines = p.stdout.decode().splitlines()
    assert lines[:4] == ["argv: --address %s ps -a it's x" % sock,
                         "exe: /usr/local/bin/nerdctl 755 " + digest,
                         "address: " + sock, "namespace: k8s.io"], lines
    # It ran in the guest, not on this host.
    assert lines[4] != "host: " + open("/etc/hostname").read().strip(), lines


def test_04_docker_sock_answers_one_clear_line(world):
    env = dict(os.environ, DOCKER_HOST="unix://%s/default/docker.sock" % world["home"])
    env.pop("DOCKER_CONTEXT", None)
    p = run([DOCKER, "ps"], env=env, check=False)
    err = p.stderr.decode().strip()
    assert p.returncode == 1 and len(err.splitlines()) == 1, err
    assert "runs containerd, not the Docker engine" in err and "berth ctr" in err, err


def test_04b_a_killed_containerd_comes_back_and_its_task_survives(world):
    """containerd killed in the guest (SIGKILL): the guest's supervision berth set up
    (containerd's unit, Restart=always, its shims left alone) starts it again; the task it ran
    still runs, and `ctr tasks ls` through berth's relay shows it again."""
    task = "t4-%d" % os.getpid()
    berth(world["home"], "ctr", "--", "run", "-d", IMAGE, task, "sleep", "600")
    t0 = time.monotonic()
    # In one ssh session: kill it, then wait in the guest until a new containerd runs.
    out = berth(world["home"], "ssh", "--",
                "old=$(pgrep -x containerd); kill -9 $old; "
                "for i in $(seq 600); do new=$(pgrep -x containerd) && [ \"$new\" != \"$old\" ] "
                "&& break; sleep 0.2; done; echo $old $new").stdout.decode().split()
    old, new = out
    assert old != new, out

    def listed_running():
        p = ctr(world, "tasks", "ls", check=False, timeout=60)
        return p.returncode == 0 and any(line.split()[0] == task and "RUNNING" in line
                                         for line in p.stdout.decode().splitlines()[1:])

    deadline = time.monotonic() + 120
    while not listed_running():
        assert time.monotonic() < deadline, "the task is not listed as running again"
        time.sleep(0.5)
    print("\ncontainerd killed; task listed running again through the relay %.1fs later"
          % (time.monotonic() - t0))
    ctr(world, "tasks", "kill", "-s", "SIGKILL", task)
    deadline = time.monotonic() + 60
    while "RUNNING" in ctr(world, "tasks", "ls").stdout.decode():
        assert time.monotonic() < deadline, "the task did not end"
        time.sleep(0.5)
    ctr(world, "tasks", "delete", task)
    ctr(world, "containers", "delete", task)


def guest_cni(world, command, conf, container, netns, before="", check=True):
    """One CNI plugin call in the guest, as a runtime (nerdctl) makes it: the plugin named by
    conf["type"] (Debian's containernetworking-plugins) with `conf` on stdin, over one `berth ssh`
    session, after the shell words `before`; its result (ADD) as a dict."""
    plugin = "/usr/lib/cni/" + conf["type"]
    line = ("%s printf %%s %s | CNI_COMMAND=%s CNI_CONTAINERID=%s CNI_NETNS=%s CNI_IFNAME=eth0 "
            "CNI_PATH=/usr/lib/cni %s" % (before, shlex.quote(json.dumps(conf)), command,
                                          container, netns, plugin))
    p = berth(world["home"], "ssh", "--", line, check=False, timeout=120)
    assert p.returncode == 0 or not check, (command, conf["type"], p.stdout, p.stderr)
    return json.loads(p.stdout) if command == "ADD" and p.stdout.strip() else None


def first_times(checks, timeout, what):
    """Polls every check of {name: check} until each has been true once; {name: "%.1f"} of the
    seconds each took. AssertionError naming the ones still false after `timeout` s."""
    start = time.monotonic()
    seen = {}
    while len(seen) < len(checks):
        assert time.monotonic() - start < timeout, "not %s after %ds: %s" % (
            what, timeout, sorted(set(checks) - set(seen)))
        for name, check in checks.items():
            if name not in seen and check():
                seen[name] = "%.1f" % (time.monotonic() - start)
        time.sleep(0.05)
    return seen


def test_04b2_cni_hostports_in_the_guest_reach_host_loopback_and_leave_with_them(world):
    """A task in a network namespace of the guest's own, given an address by the real CNI bridge
    plugin and three hostPorts by the real portmap plugin (called by hand with runtimeConfig
    portMappings, as nerdctl calls them), TCP on any host IP, TCP on host IP 127.0.0.1
    (`nerdctl run -p 127.0.0.1:P:80`) and UDP on any host IP (`-p P:80/udp`, a UDP echo in the
    task's namespace), answers on host 127.0.0.1 at all three a few seconds after portmap's ADD:
    the guest's watch loop read the nat table, berth asked QEMU for a hostfwd to the guest's
    address, where portmap's PREROUTING DNAT takes the any-IP ones to the task and berth's own
    (BERTH-LOOPBACK) the 127.0.0.1 one, which portmap DNATs for the guest's own connections
    only. The status lists them as guest listeners with their protocol; the forwards close
    within a few seconds of portmap's DEL while the task still runs."""
    port = free_port()
    lo_port = free_port()
    while lo_port == port:
        lo_port = free_port()
    udp_port = free_port()  # UDP: may equal a TCP one (another protocol's port)
    name = "bcni%d" % (os.getpid() % 100000)
    netns = "/var/run/netns/" + name
    task = "cni-%d" % os.getpid()
    network = {"cniVersion": "0.4.0", "name": name}
    bridge = cni_bridge(name, "/run/berth-test-ipam")
    portmap = None
    t0 = time.monotonic()
    try:
        result = guest_cni(world, "ADD", bridge, task, netns, before="ip netns add %s &&" % name)
        berth(world["home"], "ctr", "--", "run", "-d", "--with-ns", "network:" + netns, IMAGE,
              task, "sh", "-c", "echo hello-cni > /tmp/index.html; exec httpd -f -p 80 -h /tmp")
        assert refused("127.0.0.1", port) and refused("127.0.0.1", lo_port)
        assert udp_bindable("127.0.0.1", udp_port)
        portmap = dict(network, type="portmap", capabilities={"portMappings": True}, snat=True,
                       prevResult=result, runtimeConfig={"portMappings": [
                           {"hostPort": port, "containerPort": 80, "protocol": "tcp"},
                           {"hostPort": lo_port, "containerPort": 80, "protocol": "tcp",
                            "hostIP": "127.0.0.1"},
                           {"hostPort": udp_port, "containerPort": 80, "protocol": "udp"}]})
        # httpd listens in the task's namespace first (the guest's own wait, in the same session);
        # the UDP echo (no python3 in the guest; busybox's nc has no -u) runs beside it.
        guest_cni(world, "ADD", portmap, task, netns,
                  before="(ip netns exec %s %s </dev/null >/dev/null 2>&1 &); "
                  "for i in $(seq 100); do ip netns exec %s ss -ltnH | grep -q ':80 ' "
                  "&& ip netns exec %s ss -lunH | grep -q ':80 ' && break; sleep 0.2; done;"
                  % (name, shlex.join(perl_udp_echo(80)), name, name))
        mapped = time.monotonic()
        # Each one's own time (polled together): the any-IP ones are one QMP call each, the
        # 127.0.0.1 one waits for its redirect, an ssh session into the guest (seconds on a loaded
        # TCG host) on a worker of its own. A generous bound for a loaded TCG host.
        opened = first_times({
            "tcp": lambda: serves("127.0.0.1", port, "hello-cni\n"),
            "tcp on host IP 127.0.0.1": lambda: serves("127.0.0.1", lo_port, "hello-cni\n"),
            "udp": lambda: udp_echoes("127.0.0.1", udp_port)}, 60, "on host loopback")
        forwards = {(f["proto"], f["host"]): f for f in status_json(world)["forwards"]}
        for proto, host_port in (("tcp", port), ("tcp", lo_port), ("udp", udp_port)):
            forward = forwards[(proto, "127.0.0.1:%d" % host_port)]
            assert forward["origin"] == "guest listener", forwards
        guest_cni(world, "DEL", portmap, task, netns)
        portmap = None
        removed = time.monotonic()
        closed = first_times({
            "tcp": lambda: not accepts("127.0.0.1", port),
            "tcp on host IP 127.0.0.1": lambda: not accepts("127.0.0.1", lo_port),
            "udp": lambda: udp_bindable("127.0.0.1", udp_port)}, 60, "closed")
        # The redirect to the task goes with its forward (after it, over ssh).
        deadline = time.monotonic() + 60
        while "--dport %d " % lo_port in berth(world["home"], "ssh", "--",
                                               "iptables -t nat -S BERTH-LOOPBACK").stdout.decode():
            assert time.monotonic() < deadline, "the DNAT to the task stayed after portmap's DEL"
            time.sleep(1)
        redirect_gone = time.monotonic() - removed
        print("\nCNI hostPorts on host 127.0.0.1, s after portmap's ADD: %s; closed, s after its "
              "DEL: %s; the 127.0.0.1 one's redirect gone %.1fs (test %.1fs)"
              % (opened, closed, redirect_gone, time.monotonic() - t0))
        running = ctr(world, "tasks", "ls").stdout.decode()
        assert any(line.split()[:1] == [task] and "RUNNING" in line
                   for line in running.splitlines()), running
    finally:
        if portmap:
            guest_cni(world, "DEL", portmap, task, netns, check=False)
        ctr(world, "tasks", "kill", "-s", "SIGKILL", task, check=False)
        deadline = time.monotonic() + 30
        while ctr(world, "tasks", "delete", task, check=False).returncode != 0:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        ctr(world, "containers", "delete", task, check=False)
        guest_cni(world, "DEL", bridge, task, netns, check=False,
                  before="ip netns pids %s | xargs -r kill; ip netns del %s; ip link del %s;"
                  % (name, name, name))


def test_04c_idle_stop_then_the_next_ctr_call_boots_without_copying_nerdctl_again(world):
    """With an idle stop: the guest stops once no client is connected, shows no containerd
    version while down, and the next ctr call through the relay boots it again; nerdctl.binary
    is checked at each boot and not copied again."""
    home = world["home"]
    berth(home, "stop", timeout=300)
    berth(home, "start", "--no-activate", "--lazy", "--idle-stop", "15s")
    t0 = time.monotonic()
    ctr(world, "version")
    print("\nctr version after a stop (boots the guest): %.1fs" % (time.monotonic() - t0))
    log = daemon_log(world)
    assert "is nerdctl.binary already" in log.split("nerdctl.binary copied")[-1], log[-3000:]
    deadline = time.monotonic() + 300
    while status_json(world)["boot"]["idleStops"] < 1:
        assert time.monotonic() < deadline, "no idle stop"
        time.sleep(1)
    s = status_json(world)
    assert s["boot"]["state"] != "up" and s["containerdVersion"] is None, s
    t0 = time.monotonic()
    out = ctr(world, "version").stdout.decode()
    print("ctr version after the idle stop (boots the guest): %.1fs" % (time.monotonic() - t0))
    assert "Server:" in out, out
    s = status_json(world)
    # This daemon's second boot (the first was the ctr call after the restart).
    assert s["boot"]["boots"] == 2 and s["containerdVersion"] == server_version(out), s
    assert s["containerdSocketDirect"] is False, s  # idle stop counts clients: all relayed


def test_04d_berth_ssh_holds_off_the_idle_stop_while_it_runs(world):
    """`berth ssh` registers a hold on its own pid (POST /hold on control.sock) before it runs
    ssh to the qemu guest: while it runs the status counts it (and the daemon's log names its
    pid) and no idle stop is pending, so the guest stays up past the 15 s idle-stop delay test_04c
    set; once it exits the hold is gone and the delay runs again."""
    home = world["home"]
    s = status_json(world)
    assert s["boot"]["state"] == "up" and s["holds"] == 0, s
    stops = s["boot"]["idleStops"]
    ssh = subprocess.Popen([BERTH_BIN, "ssh", "--", "echo in; sleep 18"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=dict(os.environ, BERTH_HOME=home))
    try:
        held = time.monotonic()
        assert ssh.stdout.readline() == b"in\n", ssh.stderr.read()  # it runs in the guest
        s = status_json(world)
        assert s["holds"] == 1 and s["boot"]["idleStopInSeconds"] is None, s
        assert "pid %d holds off idle stop while it runs" % ssh.pid in daemon_log(world)
        assert ssh.wait(60) == 0, ssh.stderr.read()
    finally:
        if ssh.poll() is None:
            ssh.kill()
            ssh.wait()
    assert time.monotonic() - held > 16, "berth ssh ran for less than the idle-stop delay"
    wait_until(lambda: status_json(world)["holds"] == 0, 5, "the hold to end with berth ssh", 0.1)
    s = status_json(world)
    assert s["boot"]["state"] == "up" and s["boot"]["idleStops"] == stops, s["boot"]
    assert s["holds"] == 0 and s["boot"]["idleStopInSeconds"] is not None, s


def test_05_delete_leaves_nothing_running(world):
    berth(world["home"], "delete", "-f", "--data", timeout=180)
    assert mentioning(world["home"]) == []
    assert not os.path.exists(world["sock"])
