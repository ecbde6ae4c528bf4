"""Shared integration-test harness: a real dockerd in a network namespace (Engine, a thin
wrapper over tests/harness/dockerd-ns.sh, the one implementation), a `berth daemon` process
in front of it (Berth), and helpers to run the real clients through berth.

Importable from any test in tests/integration (pytest puts this folder on sys.path):
    from berth_harness import Engine, Berth, short_tmpdir, run
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HARNESS = os.path.join(ROOT, "tests", "harness", "dockerd-ns.sh")
BERTH_BIN = os.environ.get("BERTH_BIN") or os.path.join(ROOT, "build", "server", "berth")
DOCKER = os.environ.get("DOCKER_CLI", "/usr/local/bin/docker")
COMPOSE = "/usr/bin/docker-compose"


def short_tmpdir(tag):
    """A temp dir with a short path (unix sockets hold at most 107 bytes)."""
    return tempfile.mkdtemp(prefix="b-%s-" % tag, dir="/tmp")


def recv_until_eof(sock, size=65536):
    """Everything `sock` receives until the peer closes (or half-closes) its side."""
    out = b""
    while True:
        chunk = sock.recv(size)
        if not chunk:
            return out
        out += chunk


def recv_until(sock, marker, size=65536):
    """What `sock` receives until `marker` is in it; the peer closing first is an assertion
    that shows what came."""
    data = b""
    while marker not in data:
        chunk = sock.recv(size)
        assert chunk, data[-2000:]
        data += chunk
    return data


def run(cmd, env=None, check=True, timeout=300, **kw):
    """subprocess.run with text capture; on failure the error shows stdout and stderr."""
    p = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d\nstdout: %r\nstderr: %r" % (
            cmd, p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return p



def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it is true; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))

def wait_for_socket(path, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("process exited %d before listening on %s" % (proc.returncode, path))
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("nothing listens on %s after %.0fs" % (path, timeout))


def import_bb(sock, scratch_dir):
    """Imports the busybox image `bb` into the engine at unix socket `sock` (any engine, e.g.
    a berth profile's guest), the same way the harness engine gets it."""
    run(["bash", HARNESS, "import-bb", sock, scratch_dir], timeout=120)


class Engine:
    """A real dockerd (Debian docker.io) in network namespace `name`, state under `dir`,
    with a busybox image `bb`. Attributes: sock, guest_addr (the namespace's veth address,
    not loopback), host_addr (the host end of the veth), veth (its name), netns, dir."""

    def __init__(self, name, dir=None, port_range=None):
        self.name = name
        self.dir = dir or short_tmpdir(name)
        self.port_range = port_range  # (low, high): where the engine picks -P ports
        self.started = False

    def start(self):
        env = dict(os.environ)
        if self.port_range:
            env["BERTH_NS_PORT_RANGE"] = "%d %d" % self.port_range
        p = run(["bash", HARNESS, "start", self.name, self.dir], env=env, timeout=180)
        env = dict(line.split("=", 1) for line in p.stdout.decode().split("\n") if "=" in line)
        self.sock = env["DOCKER_SOCK"]
        self.guest_addr = env["GUEST_ADDR"]
        self.host_addr = env["HOST_ADDR"]
        self.netns = env["NETNS"]
        self.veth = env["VETH"]  # the host end
        self.pid = int(env["DOCKERD_PID"])
        self.started = True
        return self

    @property
    def url(self):
        return "unix://" + self.sock

    def stop(self):
        run(["bash", HARNESS, "stop", self.name, self.dir], timeout=120)
        self.started = False

    def docker(self, *args, **kw):
        """The docker CLI straight at the engine (not through berth): for setup only."""
        env = dict(os.environ, DOCKER_HOST=self.url)
        return run([DOCKER] + list(args), env=env, **kw)


class Berth:
    """A `berth daemon` relay process. start() waits until its socket accepts."""

    def __init__(self, upstream, sock=None, debug=True, extra_args=(), dir=None):
        self.dir = dir or short_tmpdir("berth")
        self.sock = sock or os.path.join(self.dir, "docker.sock")
        self.upstream = upstream
        self.debug = debug
        self.extra_args = list(extra_args)
        self.log_path = os.path.join(self.dir, "berth.log")
        self.proc = None

    @property
    def url(self):
        return "unix://" + self.sock

    def start(self, wait=True):
        cmd = [BERTH_BIN, "daemon", "--socket", self.sock, "--upstream", self.upstream]
        if self.debug:
            cmd.append("--debug")
        cmd += self.extra_args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        if wait:
            wait_for_socket(self.sock, proc=self.proc)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signals the daemon and returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def _status_kib(self, field):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError("no %s for pid %d" % (field, self.proc.pid))

    def rss_kib(self):
        return self._status_kib("VmRSS")

    def hwm_kib(self):
        """Peak RSS over the process's life."""
        return self._status_kib("VmHWM")

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def env(self, **extra):
        """Environment for a client that must go through this relay."""
        env = dict(os.environ, DOCKER_HOST=self.url, **extra)
        env.pop("DOCKER_CONTEXT", None)
        env.pop("DOCKER_TLS_VERIFY", None)
        return env

    def docker(self, *args, **kw):
        """The real docker CLI through berth."""
        env = self.env(**kw.pop("extra_env", {}))
        return run([DOCKER] + list(args), env=env, **kw)

    def compose(self, *args, **kw):
        env = self.env(**kw.pop("extra_env", {}))
        return run([COMPOSE] + list(args), env=env, **kw)

    def client(self, **kw):
        import docker  # python3-docker
        return docker.DockerClient(base_url=self.url, **kw)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
