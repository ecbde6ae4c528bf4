"""Faults (issue 6): the engine is killed (SIGKILL, as when a guest crashes) in the middle of a
`logs -f`, an upload and an exec stream. Every client gets an error or EOF within seconds, not
a hang; once the engine is back, the same berth daemon serves the next request."""
import os
import signal
import socket
import subprocess
import tarfile
import time

import pytest

from berth_harness import DOCKER, Berth, Engine, short_tmpdir
from security_helpers import uid

HANG = 20  # seconds after the kill by which every client must have ended


@pytest.fixture
def own_engine():
    # Our own engine: killing the shared one would break every test after this one.
    name = "secf-%d" % os.getpid()
    e = Engine(name, short_tmpdir(name)).start()
    yield e
    e.stop()
    import shutil
    shutil.rmtree(e.dir, ignore_errors=True)


def tar_head(name, size):
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def test_engine_killed_mid_stream(own_engine):
    e = own_engine
    b = Berth(e.url).start()
    try:
        name = uid("sec-fault")
        b.docker("run", "-d", "-i", "--name", name, "bb", "sh", "-c",
                 "while true; do echo tick; sleep 0.2; done")
        # 1. logs -f, streaming.
        logs = subprocess.Popen([DOCKER, "logs", "-f", name], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=b.env())
        assert logs.stdout.readline() == b"tick\n"
        # 2. an exec stream with stdin held open.
        ex = subprocess.Popen([DOCKER, "exec", "-i", name, "cat"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=b.env())
        ex.stdin.write(b"echo-me\n")
        ex.stdin.flush()
        assert ex.stdout.readline() == b"echo-me\n"
        # 3. an upload (PUT archive) that has sent part of a 1 GiB file.
        up = socket.socket(socket.AF_UNIX)
        up.settimeout(HANG)
        up.connect(b.sock)
        size = 1 << 30
        up.sendall(b"PUT /v1.41/containers/%s/archive?path=/tmp HTTP/1.1\r\nHost: docker\r\n"
                   b"Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n"
                   % (name.encode(), 512 + size + 1024) + tar_head("big", size))
        for _ in range(64):
            up.sendall(b"\0" * 65536)

        os.kill(e.pid, signal.SIGKILL)
        killed = time.monotonic()

        logs.wait(timeout=HANG)
        ex.stdin.close()  # the CLI may still wait for stdin's end; closing it is what a user does
        ex.wait(timeout=HANG)
        upload_end = None
        try:
            while True:
                up.sendall(b"\0" * 65536)
                if time.monotonic() - killed > HANG:
                    break
        except (BrokenPipeError, ConnectionResetError) as err:
            upload_end = repr(err)
        if upload_end is None:
            data = up.recv(4096)  # an error reply or EOF
            upload_end = "reply %r" % data[:80]
        up.close()
        elapsed = time.monotonic() - killed
        print("after the kill: logs -f exit %s, exec exit %s, upload %s, all within %.1fs" % (
            logs.returncode, ex.returncode, upload_end, elapsed))
        assert elapsed < HANG
        assert ex.returncode != 0 or ex.stdout.read() == b""

        # The engine comes back (same socket path); the same daemon serves the next request.
        e.stop()
        e.start()
        p = b.docker("ps", "-a", timeout=60)
        assert p.stdout.startswith(b"CONTAINER ID")
        assert b.docker("run", "--rm", "bb", "echo", "back", timeout=60).stdout == b"back\n"
        assert b.proc.poll() is None
    finally:
        assert b.stop() == 0
        b.cleanup()
