"""Access to berth's sockets and directories (issue 6): sockets are 0600, other users cannot
connect, and a directory others can write is refused before anything is created in it."""
import os
import stat
import time

from berth_harness import BERTH_BIN, DOCKER, Berth, run
from security_helpers import start_tcp_berth

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_socket_is_0600_and_other_users_cannot_use_it(engine, tmp_short):
    # A readable (0755) dir, so it is the socket's own mode that keeps others out.
    os.chmod(tmp_short, 0o755)
    b = Berth(engine.url, sock=os.path.join(tmp_short, "docker.sock"), dir=tmp_short).start()
    try:
        st = os.stat(b.sock)
        assert stat.S_ISSOCK(st.st_mode)
        assert mode(b.sock) == 0o600
        assert st.st_uid == os.geteuid()
        assert b.docker("ps").returncode == 0
        time.sleep(0.3)  # the start-up probe's and ps's log lines are written
        before = b.log_text()
        p = run(NOBODY + [DOCKER, "-H", b.url, "ps"], check=False, timeout=30,
                env=dict(os.environ, HOME="/tmp"))
        assert p.returncode != 0
        assert b"permission denied" in p.stderr.lower(), p.stderr
        time.sleep(0.3)
        assert "conn " not in b.log_text()[len(before):]  # not even a connection
    finally:
        assert b.stop() == 0
    assert not os.path.exists(os.path.join(tmp_short, "docker.sock"))


def test_socket_dir_writable_by_others_is_refused(engine, tmp_short):
    shared = os.path.join(tmp_short, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o777)
    sock = os.path.join(shared, "docker.sock")
    p = run([BERTH_BIN, "daemon", "--socket", sock, "--upstream", engine.url], check=False,
            timeout=20)
    assert p.returncode == 1
    err = p.stderr.decode().strip().split("\n")
    assert err[-1] == ("berth: %s is writable by other users (mode 0777) without the sticky "
                       "bit; run: chmod go-w %s" % (shared, shared)), p.stderr
    assert os.listdir(shared) == []


def test_tls_dir_owned_by_another_user_is_refused(engine, tmp_short):
    tls = os.path.join(tmp_short, "tls")
    os.mkdir(tls, 0o700)
    os.chown(tls, 65534, 65534)
    p = run([BERTH_BIN, "daemon", "--socket", os.path.join(tmp_short, "d.sock"), "--upstream",
             engine.url, "--listen", "tcp://127.0.0.1:20998", "--tls-dir", tls], check=False,
            timeout=20)
    assert p.returncode == 1
    assert b"owned by uid 65534" in p.stderr, p.stderr
    assert os.listdir(tls) == []
    assert not os.path.exists(os.path.join(tmp_short, "d.sock"))


def test_tls_files_are_private(engine):
    b, _ = start_tcp_berth(engine)
    try:
        tls = os.path.join(b.dir, "tls")
        assert mode(tls) == 0o700 and mode(os.path.join(tls, "client")) == 0o700
        for key in ("ca-key.pem", "server-key.pem", "client/key.pem"):
            assert mode(os.path.join(tls, key)) == 0o600
            assert os.stat(os.path.join(tls, key)).st_uid == os.geteuid()
        p = run(NOBODY + ["cat", os.path.join(tls, "client", "key.pem")], check=False)
        assert p.returncode != 0
    finally:
        assert b.stop() == 0
        b.cleanup()
