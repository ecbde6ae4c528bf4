"""Hostile and broken input through berth's socket (issue 6): each gets a Docker-shaped error
or a closed connection, and the daemon keeps serving (a `docker ps` right after each). Also the
limits: request line, header size and count, the slow-loris head timeout (which must spare live
streams and hijacked connections), and the connection cap's 503."""
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from berth_harness import Berth, DOCKER, recv_until, short_tmpdir
from security_helpers import raw_exchange, status_and_body, uid

HEAD_TIMEOUT = 2
MAX_CONNECTIONS = 8


@pytest.fixture(scope="module")
def limited(engine):
    share = short_tmpdir("sec-share")
    # --mount turns the mounts filter on: container create bodies are buffered and parsed.
    b = Berth(engine.url, extra_args=["--head-timeout", str(HEAD_TIMEOUT), "--max-connections",
                                      str(MAX_CONNECTIONS), "--mount", share]).start()
    yield b
    assert b.stop() == 0
    b.cleanup()
    shutil.rmtree(share, ignore_errors=True)


def docker_ps_works(b):
    p = b.docker("ps", timeout=30)
    assert p.stdout.startswith(b"CONTAINER ID")


def assert_docker_error(reply, status):
    code, body = status_and_body(reply)
    assert code == status, reply[:300]
    message = json.loads(body)["message"]
    assert isinstance(message, str) and message
    return message


def test_garbage_bytes(limited):
    for junk in (b"\x00\xff\xfe garbage \x01\r\n\r\n", b"GET\r\n\r\n", b"HELLO WORLD\r\n\r\n",
                 os.urandom(4096)):
        reply = raw_exchange(limited.sock, junk, timeout=5)
        if reply:
            assert_docker_error(reply, 400)
        docker_ps_works(limited)


def test_oversized_header(limited):
    req = (b"GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 +
           b"\r\n\r\n")
    message = assert_docker_error(raw_exchange(limited.sock, req), 431)
    assert "header too large" in message
    docker_ps_works(limited)


def test_too_many_header_fields(limited):
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(200))
    req = b"GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"
    message = assert_docker_error(raw_exchange(limited.sock, req), 431)
    assert "too many header fields" in message
    docker_ps_works(limited)


def test_request_line_too_long(limited):
    req = b"GET /v1.41/containers/json?filters=" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    message = assert_docker_error(raw_exchange(limited.sock, req), 414)
    assert "request line too long" in message
    docker_ps_works(limited)


def test_unterminated_chunked_body(limited, engine):
    name = uid("sec-chunk")
    head = (b"POST /v1.41/containers/create?name=%s HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" % name.encode())
    # Half a chunk, then the client half-closes: the body can never end.
    reply = raw_exchange(limited.sock, head + b"40\r\n{\"Image\": \"bb\"", shutdown=True,
                         timeout=15)
    assert reply == b"" or status_and_body(reply)[0] >= 400, reply[:300]
    # A bad chunk size: malformed.
    reply = raw_exchange(limited.sock, head + b"zz\r\n{}\r\n0\r\n\r\n", timeout=15)
    if reply:
        assert status_and_body(reply)[0] >= 400, reply[:300]
    # Or the client just vanishes mid-chunk.
    s = socket.socket(socket.AF_UNIX)
    s.connect(limited.sock)
    s.sendall(head + b"40\r\n{\"Ima")
    time.sleep(0.2)
    s.close()
    docker_ps_works(limited)
    names = engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
    assert name not in names


def test_hijack_for_a_missing_container(limited, engine):
    req = (b"POST /v1.41/containers/sec-no-such-container/attach?stream=1&stdout=1 HTTP/1.1\r\n"
           b"Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
    via_berth = raw_exchange(limited.sock, req, timeout=10)
    direct = raw_exchange(engine.sock, req, timeout=10)
    # dockerd answers this one as a raw stream with a text body; berth passes it on as is.
    assert status_and_body(via_berth)[0] == 404
    assert via_berth == direct
    assert b"No such container: sec-no-such-container" in via_berth
    p = limited.docker("exec", "-i", "sec-no-such-container", "true", check=False, timeout=30)
    assert p.returncode != 0 and b"No such container" in p.stderr
    docker_ps_works(limited)


def test_invalid_json_on_a_filtered_route(limited):
    for body in (b"{not json", b"[1,2", b"\"\xff\xfe\"", b"{" * 5000):
        req = (b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        code, payload = status_and_body(raw_exchange(limited.sock, req, timeout=10))
        assert code >= 400, (code, payload[:200])  # dockerd 20.10 says 500 for bad JSON
        assert json.loads(payload)["message"]
    docker_ps_works(limited)


def test_filtered_body_over_the_cap_gets_413(limited, engine):
    name = uid("sec-big")
    size = 17 * 1024 * 1024  # the cap is 16 MiB
    head = (b"POST /v1.41/containers/create?name=%s HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (name.encode(), size))
    s = socket.socket(socket.AF_UNIX)
    s.connect(limited.sock)
    s.settimeout(30)

    def send():
        try:
            s.sendall(head + b'{"Image":"bb","Labels":{"x":"' + b"a" * (size - 32) + b'"}}')
        except OSError:
            pass  # berth stops reading once the cap is passed
    sender = threading.Thread(target=send)
    sender.start()
    reply = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        reply += chunk
    sender.join(30)
    s.close()
    message = assert_docker_error(reply, 413)
    assert "request body too large" in message
    assert name not in engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
    docker_ps_works(limited)


def test_connection_closed_half_way(limited):
    for partial in (b"GET /v1.41/containers/json HTT", b"POST /v1.41/containers/create HTTP/1.1\r\n"
                    b"Host: x\r\nContent-Length: 100\r\n\r\n{\"Image\":"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(limited.sock)
        s.sendall(partial)
        s.close()
    docker_ps_works(limited)


def test_slow_head_is_cut_after_the_head_timeout(limited):
    s = socket.socket(socket.AF_UNIX)
    s.connect(limited.sock)
    s.settimeout(15)
    start = time.monotonic()
    closed_at = None
    for ch in b"GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n":
        try:
            s.send(bytes([ch]))
        except (BrokenPipeError, ConnectionResetError):
            closed_at = time.monotonic() - start
            break
        time.sleep(0.25)
    if closed_at is None:
        assert s.recv(100) == b""
        closed_at = time.monotonic() - start
    s.close()
    # Cut at the timeout, although a byte arrived every 0.25 s.
    assert HEAD_TIMEOUT - 0.5 <= closed_at <= HEAD_TIMEOUT + 3, closed_at
    assert "request head timed out" in limited.log_text()
    docker_ps_works(limited)


def test_live_streams_and_hijacks_outlive_the_head_timeout(limited):
    name = uid("sec-live")
    limited.docker("run", "-d", "-i", "--name", name, "bb", "sh", "-c",
                   "sleep %d; echo late; cat" % (HEAD_TIMEOUT * 3))
    try:
        logs = subprocess.Popen([DOCKER, "logs", "-f", name], stdout=subprocess.PIPE,
                                env=limited.env())
        # An exec whose stdin stays open and silent for 3x the head timeout.
        ex = subprocess.Popen([DOCKER, "exec", "-i", name, "sh", "-c", "read l; echo got $l"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=limited.env())
        time.sleep(HEAD_TIMEOUT * 3 + 1)
        out, _ = ex.communicate(b"line\n", timeout=20)
        assert out == b"got line\n"
        assert logs.stdout.readline() == b"late\n"
        limited.docker("rm", "-f", name)
        logs.wait(timeout=20)
        assert logs.returncode is not None
    finally:
        limited.docker("rm", "-f", name, check=False)


def hold_event_stream(sock_path):
    """A connection that berth counts for as long as it stays open: a live GET /events, whose
    head has arrived (a silent connection would be cut by the 2 s head timeout on a slow
    machine, and the cap would no longer be full when the test checks it)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(sock_path)
    s.sendall(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
    head = recv_until(s, b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return s


def test_connection_cap_answers_503_then_recovers(limited):
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):
            held.append(hold_event_stream(limited.sock))
        req = b"GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n\r\n"
        message = assert_docker_error(raw_exchange(limited.sock, req, timeout=10), 503)
        assert "too many connections (limit %d)" % MAX_CONNECTIONS in message
        p = limited.docker("ps", check=False, timeout=30)
        assert p.returncode != 0 and b"too many connections" in p.stderr, p.stderr
    finally:
        for s in held:
            s.close()
    # Berth hears the closes asynchronously; the cap must lift within a few seconds.
    deadline = time.monotonic() + 10
    req = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
    while status_and_body(raw_exchange(limited.sock, req, timeout=10))[0] == 503:
        assert time.monotonic() < deadline, "the connection cap did not lift after the closes"
        time.sleep(0.1)
    docker_ps_works(limited)
