"""Security of profiles (issue 6): `berth start --listen` serves the profile over mutual TLS
and `berth status` says how to use it; a profile dir other users can write is refused by
`berth start` and by the daemon itself."""
import os
import socket
import stat
import time

from security_helpers import free_port, tls_env
from berth_harness import DOCKER, recv_until_eof, run


def test_start_listen_serves_mutual_tls_and_status_says_how(profiles):
    port = free_port()
    profiles.start("--lazy", "--listen", "tcp://127.0.0.1:%d" % port)
    cert_path = os.path.join(profiles.dir(), "tls", "client")
    human = profiles.berth("status").stdout.decode()
    assert "listen: tcp://127.0.0.1:%d (mutual TLS)" % port in human, human
    assert ("export DOCKER_HOST=tcp://127.0.0.1:%d DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=%s"
            % (port, cert_path)) in human, human
    status = profiles.status()
    assert status["listen"] == [{"dockerHost": "tcp://127.0.0.1:%d" % port, "tlsVerify": True,
                                 "certPath": cert_path}]
    assert sorted(os.listdir(cert_path)) == ["ca.pem", "cert.pem", "key.pem"]
    assert stat.S_IMODE(os.stat(os.path.join(cert_path, "key.pem")).st_mode) == 0o600
    # The first request over TLS boots the lazy guest and is answered.
    p = run([DOCKER, "version", "--format", "{{.Server.Version}}"], env=tls_env(port, cert_path),
            timeout=180)
    assert p.stdout.strip()
    # Without the client certificate: refused.
    env = tls_env(port, cert_path)
    env.pop("DOCKER_CERT_PATH")
    env.pop("DOCKER_TLS_VERIFY")
    p = run([DOCKER, "--tls", "--tlscacert", os.path.join(cert_path, "ca.pem"), "ps"], env=env,
            check=False, timeout=60)
    assert p.returncode != 0
    profiles.berth("stop")


def test_profile_dir_writable_by_others_is_refused(profiles):
    profiles.start("--lazy")
    profiles.berth("stop")
    os.chmod(profiles.dir(), 0o777)
    p = profiles.berth("start", check=False)
    assert p.returncode == 1
    line = p.stderr.decode().strip().split("\n")[-1]
    assert line == ("berth: %s is writable by other users (mode 0777), so they could take over "
                    "the Docker engine; run: chmod 700 %s" % (profiles.dir(), profiles.dir())), line
    assert not os.path.exists(profiles.sock())
    # The daemon itself refuses too (berth start is not the only way to run it).
    p = profiles.berth("daemon", "--profile", "default", check=False, timeout=30)
    assert p.returncode == 1
    assert b"writable by other users" in p.stderr
    assert not os.path.exists(profiles.sock())
    os.chmod(profiles.dir(), 0o700)
    profiles.start("--lazy")
    assert os.path.exists(profiles.sock())
    assert stat.S_IMODE(os.stat(profiles.sock()).st_mode) == 0o600
    profiles.berth("stop")


def test_relay_settings_in_berth_yaml_reach_the_profile_daemon(profiles):
    """relay.maxConnections in berth.yaml caps the profile's connections (503 beyond)."""
    profiles.start("--lazy")
    profiles.berth("stop")
    config = os.path.join(profiles.dir(), "berth.yaml")
    with open(config, "a") as f:
        f.write("relay: {maxConnections: 2, spinMicros: 30, headTimeout: 60s}\n")
    profiles.start("--lazy")
    with open(config) as f:
        saved = f.read()  # berth start rewrites the file: the section must survive
    assert "maxConnections: 2" in saved and "spinMicros: 30" in saved, saved
    held = []
    try:
        for _ in range(2):
            s = socket.socket(socket.AF_UNIX)
            s.connect(profiles.sock())
            held.append(s)
        time.sleep(0.3)  # both accepted and counted
        third = socket.socket(socket.AF_UNIX)
        third.settimeout(10)
        third.connect(profiles.sock())
        third.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
        reply = recv_until_eof(third)
        third.close()
        assert reply.startswith(b"HTTP/1.1 503"), reply
        assert b'"message"' in reply
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    assert profiles.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    profiles.berth("stop")
