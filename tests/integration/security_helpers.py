"""Helpers shared by the security tests (tests/integration/test_security*.py): ports in the
security range, a berth daemon with a TCP listener, raw socket exchanges, process stats."""
import os
import socket
import time
import uuid

from berth_harness import Berth, run, DOCKER

PORT_RANGE = (20000, 20999)  # the security engineer's range (BRIEF-COMMON.md)


def uid(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def free_port():
    """A TCP port in our range that nothing listens on right now."""
    start = PORT_RANGE[0] + (os.getpid() * 7) % 500
    for p in list(range(start, PORT_RANGE[1])) + list(range(PORT_RANGE[0], start)):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no free port in %s" % (PORT_RANGE,))


def wait_for_tcp(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("berth exited %d before listening on %d" % (proc.returncode, port))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("nothing listens on 127.0.0.1:%d" % port)


def start_tcp_berth(engine, extra=(), insecure=False):
    """A berth daemon relaying to `engine`, also listening on tcp://127.0.0.1:PORT.
    Returns (berth, port)."""
    port = free_port()
    args = ["--listen", "tcp://127.0.0.1:%d" % port] + list(extra)
    if insecure:
        args.append("--insecure")
    b = Berth(engine.url, extra_args=args).start()
    wait_for_tcp(port, b.proc)
    return b, port


def tls_env(port, cert_path):
    env = dict(os.environ, DOCKER_HOST="tcp://127.0.0.1:%d" % port, DOCKER_TLS_VERIFY="1",
               DOCKER_CERT_PATH=cert_path)
    env.pop("DOCKER_CONTEXT", None)
    return env


def docker_tls(port, cert_path, *args, **kw):
    return run([DOCKER] + list(args), env=tls_env(port, cert_path), **kw)


def raw_exchange(path, data, timeout=10.0, shutdown=False):
    """Sends `data` on the unix socket `path`, reads until the peer closes (or `timeout`);
    returns what came back. `shutdown` half-closes our side after sending."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    try:
        if data:
            s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def status_and_body(reply):
    """(status code, body bytes) of the first HTTP response in `reply`."""
    head, _, body = reply.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    assert len(parts) >= 2 and parts[0].startswith(b"HTTP/1."), reply[:200]
    return int(parts[1]), body


def proc_stat(pid):
    """(open fds, VmRSS KiB) of a process."""
    fds = len(os.listdir("/proc/%d/fd" % pid))
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return fds, int(line.split()[1])
    raise AssertionError("no VmRSS")


def wait_for_log(b, before, text, timeout=5.0):
    """The part of berth's log written since `before` (a log_text() taken earlier), once it
    contains `text` (berth logs a refusal just after the client has seen it)."""
    deadline = time.monotonic() + timeout
    while True:
        new = b.log_text()[len(before):]
        if text in new or time.monotonic() > deadline:
            return new
        time.sleep(0.05)
