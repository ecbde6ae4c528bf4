"""Helpers shared by the port-forwarding tests (test_forwarding*.py)."""
import json
import socket
import threading
import time
import urllib.request
from berth_harness import wait_until  # noqa: F401 (the tests import it from here)

HTTPD = ["sh", "-c", "echo hello-$HOSTNAME > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
# A UDP echo server: the container runs the host's python3 from a read-only bind of /.
UDP_ECHO = ["chroot", "/host", "python3", "-c",
            "import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.bind(('0.0.0.0', 80))\n"
            "while True:\n"
            "    d, a = s.recvfrom(65536)\n"
            "    s.sendto(d, a)\n"]


def read_status(b):
    """The status a `berth daemon --forward-status FILE` wrote last ({} before the first)."""
    try:
        with open(b.status_path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}



def accepts(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def refused(host, port, timeout=0.05):
    """True only when a connect is refused (RST): a connect that hangs (e.g. a SYN sent to an
    address that just died) is not a refusal, and a short timeout keeps a probe from hiding
    the refusals after it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()


def http_get(host, port, timeout=5):
    url = "http://%s:%d/index.html" % ("[%s]" % host if ":" in host else host, port)
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def serves(host, port, body):
    """True when GET /index.html at host:port answers `body` within 1 s."""
    try:
        return http_get(host, port, timeout=1) == body
    except OSError:
        return False


def free_port():
    """A TCP port nothing on host 127.0.0.1 listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def perl_udp_echo(port):
    """argv of a UDP echo on any address's `port` in perl (perl-base is on every Debian system,
    berth's guest image included, which has no python3): prints "ready" once bound, then answers
    each datagram with "echo:" and the datagram."""
    return ["perl", "-MIO::Socket::INET", "-e",
            '$| = 1; $s = IO::Socket::INET->new(LocalPort => %d, Proto => "udp") '
            'or die "udp echo: $!"; print "ready\\n"; '
            'while (defined $s->recv($d, 2048)) { $s->send("echo:$d") }' % port]


def udp_echoes(host, port):
    """True when a datagram sent to host:port comes back from perl_udp_echo within 0.2 s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.sendto(b"ping", (host, port))
        try:
            return s.recvfrom(2048)[0] == b"echo:ping"
        except OSError:
            return False


def udp_bindable(host, port):
    """True when nothing (no berth forward) holds UDP host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def http_get_retry(host, port, timeout=10):
    """The forward accepts as soon as the container starts; httpd may need a moment more."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return http_get(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class EventClock:
    """Watches the engine's events directly (not through berth): timeNano of each
    (container name, action) seen."""

    def __init__(self, engine, actions):
        import docker
        self.api = docker.APIClient(base_url=engine.url, timeout=60)
        self.seen = {}
        self.cond = threading.Condition()
        self.stream = self.api.events(decode=True, filters={"type": "container",
                                                            "event": list(actions)})
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for ev in self.stream:
                name = ev.get("Actor", {}).get("Attributes", {}).get("name")
                with self.cond:
                    self.seen.setdefault((name, ev["Action"]), ev["timeNano"])
                    self.cond.notify_all()
        except Exception:  # the stream is closed at the end
            pass

    def wait(self, name, action, timeout=30):
        with self.cond:
            ok = self.cond.wait_for(lambda: (name, action) in self.seen, timeout)
            assert ok, "no %s event for %s" % (action, name)
            return self.seen[(name, action)]

    def close(self):
        self.stream.close()
        self.api.close()


class Poller:
    """Polls `predicate` every ~0.2 ms in a thread started before the docker command runs
    (the command returns well after the event); at() is time.time_ns() of the first success."""

    def __init__(self, predicate):
        self.predicate = predicate
        self.when = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.predicate():
                self.when = time.time_ns()
                return
            time.sleep(0.0002)

    def at(self):
        self.thread.join()
        assert self.when is not None, "condition not met in 30s"
        return self.when
