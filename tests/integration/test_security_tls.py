"""The Docker API over TCP with mutual TLS (issue 6): the docker CLI with the client files
works; no client certificate, a certificate of another CA, a server certificate used as a
client one, and plain HTTP are all refused before any request reaches the engine."""
import os
import socket
import ssl
import stat

import pytest

from berth_harness import BERTH_BIN, DOCKER, recv_until_eof, run
from security_helpers import (docker_tls, free_port, start_tcp_berth, uid,
                              wait_for_log)


@pytest.fixture(scope="module")
def tls_berth(engine):
    b, port = start_tcp_berth(engine)
    yield b, port, os.path.join(b.dir, "tls")
    assert b.stop() == 0
    b.cleanup()


def make_foreign_client(dir):
    """A CA and a client certificate that have nothing to do with berth's."""
    def ossl(*args):
        run(["openssl"] + list(args), cwd=dir)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2", "-subj", "/CN=other CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "key.pem", "-out", "client.csr", "-subj", "/CN=intruder")
    with open(os.path.join(dir, "ext.cnf"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    ossl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
         "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf")


def assert_nothing_reached_engine(b, log_before, engine, marker):
    new = wait_for_log(b, log_before, "refused")
    assert "[relay]" not in new, new
    assert "refused" in new, new
    names = engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
    assert marker not in names


def test_docker_cli_over_mutual_tls(tls_berth, engine):
    b, port, tls_dir = tls_berth
    client = os.path.join(tls_dir, "client")
    assert sorted(os.listdir(client)) == ["ca.pem", "cert.pem", "key.pem"]
    p = run([DOCKER, "--tlsverify", "--tlscacert", client + "/ca.pem", "--tlscert",
             client + "/cert.pem", "--tlskey", client + "/key.pem",
             "-H", "tcp://127.0.0.1:%d" % port, "ps"], env=dict(os.environ, DOCKER_HOST=""))
    assert p.stdout.startswith(b"CONTAINER ID")
    log = b.log_text()
    assert "/containers/json" in log


def test_half_close_and_streams_over_tls(tls_berth, engine):
    b, port, tls_dir = tls_berth
    client = os.path.join(tls_dir, "client")
    name = uid("sec-tls")
    docker_tls(port, client, "run", "-d", "--name", name, "bb", "sleep", "300")
    try:
        # close_notify from the CLI (stdin EOF) must not end the output direction.
        p = docker_tls(port, client, "exec", "-i", name, "cat", input=b"hi\n", timeout=30)
        assert p.stdout == b"hi\n"
        p = docker_tls(port, client, "run", "--rm", "-i", "bb", "cat", input=b"x" * 200000,
                       timeout=60)
        assert p.stdout == b"x" * 200000
        p = docker_tls(port, client, "run", "--rm", "bb", "echo", "ok", timeout=60)
        assert p.stdout == b"ok\n"
    finally:
        engine.docker("rm", "-f", name, check=False)


def test_no_client_certificate_is_refused(tls_berth, engine):
    b, port, tls_dir = tls_berth
    marker = uid("sec-nocert")
    before = b.log_text()
    env = dict(os.environ, DOCKER_HOST="tcp://127.0.0.1:%d" % port)
    env.pop("DOCKER_TLS_VERIFY", None)
    env.pop("DOCKER_CERT_PATH", None)
    p = run([DOCKER, "--tls", "--tlscacert", os.path.join(tls_dir, "client", "ca.pem"),
             "create", "--name", marker, "bb"], env=env, check=False, timeout=30)
    assert p.returncode != 0
    assert b"certificate required" in p.stderr or b"bad certificate" in p.stderr, p.stderr
    assert_nothing_reached_engine(b, before, engine, marker)


def test_certificate_of_another_ca_is_refused(tls_berth, engine, tmp_short):
    b, port, tls_dir = tls_berth
    make_foreign_client(tmp_short)
    # The client trusts berth's CA (so only the server's check of the client can fail).
    run(["cp", os.path.join(tls_dir, "client", "ca.pem"), os.path.join(tmp_short, "ca.pem")])
    marker = uid("sec-otherca")
    before = b.log_text()
    p = docker_tls(port, tmp_short, "create", "--name", marker, "bb", check=False, timeout=30)
    assert p.returncode != 0
    assert b"tls" in p.stderr.lower(), p.stderr
    assert_nothing_reached_engine(b, before, engine, marker)
    # Go's client keeps a certificate back when the server's list of acceptable CAs does not
    # name its issuer; OpenSSL's (Python's) presents it anyway, so berth's chain check runs.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(tls_dir, "client", "ca.pem"))
    ctx.load_cert_chain(os.path.join(tmp_short, "cert.pem"), os.path.join(tmp_short, "key.pem"))
    before = b.log_text()
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                             server_hostname="127.0.0.1") as t:
            t.sendall(b"POST /containers/create?name=%s HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 13\r\n\r\n{\"Image\":\"bb\"}" % marker.encode())
            if not t.recv(100):
                raise ConnectionResetError("closed without an answer")
    assert "certificate verify failed" in wait_for_log(b, before, "certificate verify failed")
    assert_nothing_reached_engine(b, before, engine, marker)


def test_server_certificate_is_no_client_certificate(tls_berth, engine, tmp_short):
    b, port, tls_dir = tls_berth
    # Signed by the right CA, but issued for serverAuth only: not a client certificate.
    for src, dst in (("client/ca.pem", "ca.pem"), ("server-cert.pem", "cert.pem"),
                     ("server-key.pem", "key.pem")):
        run(["cp", os.path.join(tls_dir, src), os.path.join(tmp_short, dst)])
    marker = uid("sec-srvcert")
    before = b.log_text()
    p = docker_tls(port, tmp_short, "create", "--name", marker, "bb", check=False, timeout=30)
    assert p.returncode != 0
    assert_nothing_reached_engine(b, before, engine, marker)


def test_plain_http_to_the_tls_port_is_refused(tls_berth, engine):
    b, port, _ = tls_berth
    before = b.log_text()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /containers/create?name=sec-plain HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"Image\":\"bb\"}")
    out = recv_until_eof(s)
    s.close()
    assert b"HTTP/1.1 2" not in out  # at most a TLS alert, never an HTTP answer
    assert_nothing_reached_engine(b, before, engine, "sec-plain")
    # And a TLS client that does not verify the server still needs a certificate.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10)) as t:
            t.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            data = t.recv(100)
            if not data:
                raise ConnectionResetError("closed")


def test_tls_material_modes(tls_berth):
    _, _, tls_dir = tls_berth
    def mode(p):
        return stat.S_IMODE(os.stat(p).st_mode)
    assert mode(tls_dir) == 0o700
    assert mode(os.path.join(tls_dir, "client")) == 0o700
    for key in ("ca-key.pem", "server-key.pem", "client/key.pem"):
        assert mode(os.path.join(tls_dir, key)) == 0o600, key


def test_insecure_plain_tcp_only_on_loopback_and_with_a_warning(engine, tmp_short):
    port = free_port()
    p = run([BERTH_BIN, "daemon", "--socket", os.path.join(tmp_short, "d.sock"), "--upstream",
             engine.url, "--listen", "tcp://0.0.0.0:%d" % port, "--insecure"],
            check=False, timeout=20)
    assert p.returncode == 1
    lines = p.stderr.decode().strip().split("\n")
    assert lines[-1].startswith("berth: refusing plain TCP on tcp://0.0.0.0:%d" % port), p.stderr
    assert not os.path.exists(os.path.join(tmp_short, "d.sock"))

    b, port = start_tcp_berth(engine, insecure=True)
    try:
        assert "WARNING: serving the Docker API on tcp://127.0.0.1:%d over plain TCP" % port \
            in b.log_text()
        env = dict(os.environ, DOCKER_HOST="tcp://127.0.0.1:%d" % port)
        env.pop("DOCKER_TLS_VERIFY", None)
        env.pop("DOCKER_CERT_PATH", None)
        assert run([DOCKER, "ps"], env=env).returncode == 0
    finally:
        assert b.stop() == 0
        b.cleanup()
