"""Containers by name (issue 18, part 2) against a real `ns` profile and its dockerd:
`<container>.<profile>.berth.localhost` and `<service>.<project>.<profile>.berth.localhost`
reach a container's HTTP port in the guest with no port published, through the profile's HTTP
front on 127.0.0.1 (server/domains). Two containers on the same internal port by name, a
docker-compose 1.29 service, the 404 page for an unknown name, the 502 page naming
`berth.http.port`, a streamed response that arrives before it ends, another profile's names
through the shared port, `domains: false`, a stopped `berth.wake=true` container started by
its first request, a 101 upgrade relayed as a two-way byte pipe, Debian's chromium (headless) loading a page by
name, requests by name counting for `berth.idle`, and an idle-stopped guest that an open name
connection keeps up and a request by name boots. The shared port (80 for users) is a free port here ($BERTH_DOMAINS_SHARED_PORT), so
tests running beside this one cannot take it."""
import json
import os
import socket
import subprocess
import time

import pytest

from berth_harness import DOCKER, recv_until, run
from profiles_helpers import Profiles

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# A busybox httpd that serves `$PAGE` at / and a CGI that streams: "first", 3 s, "second".
SERVE = ("mkdir -p /www/cgi-bin && echo \"$PAGE\" > /www/index.html && "
         "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho first\\nsleep 3\\necho second\\n' "
         "> /www/cgi-bin/slow && chmod +x /www/cgi-bin/slow && exec httpd -f -p %d -h /www")
# An image built here from the harness's busybox: it EXPOSEs 80 (no --expose needed).
DOCKERFILE = "FROM bb\nEXPOSE 80\nCMD [\"sh\", \"-c\", %s]\n" % json.dumps(SERVE % 80)
COMPOSE = """version: "2.4"
services:
  api:
    image: bbweb
    environment: {PAGE: compose-api}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, host, path="/", timeout=10):
    """(status, headers, body) of GET http://127.0.0.1:port/path with this Host."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return int(lines[0].split()[1]), lines[1:], body.decode(errors="replace")


def until(fn, timeout=15, what=""):
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out: " + what)
        time.sleep(0.1)


def build_bbweb(p, profile="default"):
    """The image `bbweb` in `profile`'s engine, from the harness's busybox."""
    p.import_bb(profile)
    ctx = os.path.join(p.home, "bbweb-" + profile)
    os.makedirs(ctx)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    run([DOCKER, "build", "-q", "-t", "bbweb", ctx],
        env=dict(p.env, DOCKER_HOST="unix://" + p.sock(profile), DOCKER_BUILDKIT="0"))


@pytest.fixture(scope="module")
def names():
    p = Profiles()
    shared = free_port()
    p.env["BERTH_DOMAINS_SHARED_PORT"] = str(shared)
    try:
        p.start()
        build_bbweb(p)
        for name, page in (("web1", "page-one"), ("web2", "page-two")):
            p.docker("run", "-d", "--name", name, "-e", "PAGE=" + page, "bbweb")
        status = p.status()
        yield p, status["domains"]["port"], shared
    finally:
        p.cleanup()


def test_two_containers_on_the_same_port_by_name(names):
    p, port, shared = names
    for name, page in (("web1", "page-one"), ("web2", "page-two")):
        host = "%s.default.berth.localhost" % name
        code, _, body = until(lambda: (lambda r: r if r[0] == 200 else None)(get(port, host)),
                              what=host)
        assert body.strip() == page
        # curl resolves *.localhost to loopback by itself: the name alone works.
        out = run(["curl", "-sf", "http://%s:%d/" % (host, port)]).stdout.decode().strip()
        assert out == page
        # The shared port (80 for users) serves the same names.
        assert get(shared, host)[2].strip() == page
    assert p.docker("inspect", "-f", "{{json .HostConfig.PortBindings}}", "web1").stdout.strip() in (b"{}", b"null")
    s = p.status()["domains"]
    assert s["port"] == port and s["sharedPortState"] == "held"
    assert s["url"] == "http://<container>.default.berth.localhost:%d/" % shared
    assert {"web1", "web2"} <= set(s["names"])
    text = p.berth("status").stdout.decode()
    assert "names: http://<container>.default.berth.localhost:%d/" % shared in text


def test_compose_service_by_service_and_project(names):
    p, port, _ = names
    d = os.path.join(p.home, "shop")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "docker-compose.yml"), "w") as f:
        f.write(COMPOSE)
    env = dict(p.env, DOCKER_HOST="unix://" + p.sock())
    run(["docker-compose", "-p", "shop", "up", "-d"], cwd=d, env=env, timeout=120)
    try:
        code, _, body = until(lambda: (lambda r: r if r[0] == 200 else None)(
            get(port, "api.shop.default.berth.localhost")), what="api.shop")
        assert body.strip() == "compose-api"
    finally:
        run(["docker-compose", "-p", "shop", "down", "-t", "1"], cwd=d, env=env, timeout=120)
    # Gone with its container: the name is unknown again.
    until(lambda: get(port, "api.shop.default.berth.localhost")[0] == 404, what="api.shop gone")


def test_unknown_name_and_several_ports_get_clear_pages(names):
    p, port, _ = names
    code, headers, body = get(port, "nope.default.berth.localhost")
    assert code == 404
    assert "Content-Type: text/html; charset=utf-8" in headers
    assert "&lt;container&gt;.default.berth.localhost" in body
    assert "&lt;service&gt;.&lt;project&gt;.default.berth.localhost" in body
    assert "http://web1.default.berth.localhost/" in body
    assert get(port, "example.com")[0] == 404

    p.docker("run", "-d", "--name", "two", "--expose", "81", "-e", "PAGE=two-ports", "bbweb")
    code, _, body = until(lambda: (lambda r: r if r[0] != 404 else None)(
        get(port, "two.default.berth.localhost")), what="two listed")
    assert code == 502
    assert "berth.http.port" in body and "(80, 81)" in body
    # The label picks the port.
    p.docker("run", "-d", "--name", "picked", "--expose", "81", "-l", "berth.http.port=80",
             "-e", "PAGE=picked", "bbweb")
    code, _, body = until(lambda: (lambda r: r if r[0] == 200 else None)(
        get(port, "picked.default.berth.localhost")), what="picked")
    assert body.strip() == "picked"
    # A container that listens nowhere on its port: 502 saying so.
    p.docker("run", "-d", "--name", "deaf", "--expose", "80", "bb", "sleep", "300")
    code, _, body = until(lambda: (lambda r: r if r[0] != 404 else None)(
        get(port, "deaf.default.berth.localhost")), what="deaf listed")
    assert code == 502 and "did not accept" in body


def test_streamed_response_arrives_before_it_ends(names):
    p, port, _ = names
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        start = time.time()
        s.sendall(b"GET /cgi-bin/slow HTTP/1.1\r\nHost: web1.default.berth.localhost\r\n\r\n")
        data = recv_until(s, b"first")
        first_at = time.time() - start
        while b"second" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        done_at = time.time() - start
    assert b"200 OK" in data.split(b"\r\n")[0]
    assert first_at < 2.0, first_at
    assert done_at >= 2.9 and b"second" in data, (done_at, data)


def test_other_profiles_names_through_the_shared_port_and_domains_off(names):
    p, port, shared = names
    # A lazy profile: its front opens at once, its guest only boots on a docker request.
    p.start("--lazy", "--no-activate", profile="lazy")
    lazy = p.status("lazy")["domains"]
    assert lazy["enabled"] and lazy["port"] not in (0, port)
    assert lazy["sharedPortState"] not in ("", "held")  # the default profile holds it
    for via in (shared, lazy["port"]):
        code, headers, body = get(via, "web.lazy.berth.localhost")
        assert code == 503, (via, code, body)
        assert "berth start lazy" in body
    # Names of the default profile through the lazy one's front? No: each serves its own, and
    # only the holder of the shared port passes others' names on.
    assert get(shared, "web1.default.berth.localhost")[2].strip() == "page-one"

    os.makedirs(p.dir("off"))
    with open(os.path.join(p.dir("off"), "berth.yaml"), "w") as f:
        f.write("vmType: ns\ndomains: false\n")
    p.start("--lazy", "--no-activate", profile="off")
    off = p.status("off")["domains"]
    assert off == {"enabled": False, "off": "domains: false in berth.yaml"}
    assert "names: off (domains: false in berth.yaml)" in p.berth("status", "-p", "off").stdout.decode()
    code, _, body = get(shared, "web.off.berth.localhost")
    assert code == 503


def test_chromium_loads_a_page_by_name(names):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("chromium not found at %s (apt-get install chromium)" % CHROMIUM)
    p, port, _ = names
    url = "http://web2.default.berth.localhost:%d/" % port
    # Chromium resolves *.localhost to loopback itself: no resolver, no hosts file.
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--user-data-dir=" + os.path.join(p.home, "chromium"),
                          "--dump-dom", url], capture_output=True, timeout=60)
    assert b"page-two" in out.stdout, (out.stdout[-500:], out.stderr[-2000:])


def test_a_wake_container_starts_on_its_first_request_by_name(names):
    p, port, _ = names
    p.docker("run", "-d", "--name", "sleepy", "-l", "berth.wake=true", "-e", "PAGE=woken", "bbweb")
    until(lambda: get(port, "sleepy.default.berth.localhost")[0] == 200, what="sleepy up")
    p.docker("stop", "-t", "1", "sleepy")
    state = lambda: p.docker("inspect", "-f", "{{.State.Status}}", "sleepy").stdout.decode().strip()
    assert state() == "exited"
    # Listed as asleep once the front has seen the stop; the first request starts it.
    until(lambda: "sleepy" in p.status()["domains"]["names"], what="sleepy listed asleep")
    code, _, body = get(port, "sleepy.default.berth.localhost", timeout=40)
    assert code == 200 and body.strip() == "woken", (code, body)
    assert state() == "running"


# Answers any request with a 101 upgrade, then echoes every byte (busybox nc, one sh per
# connection): what a WebSocket server does at the byte level.
UPGRADE_ECHO = r"""cat > /up.sh <<'END'
#!/bin/sh
while read -r line; do
  line=$(printf '%s' "$line" | tr -d '\r')
  [ -z "$line" ] && break
done
printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
exec cat
END
chmod +x /up.sh && exec nc -ll -p 80 -e /up.sh"""


def test_an_upgraded_connection_is_a_two_way_byte_pipe(names):
    p, port, _ = names
    p.docker("run", "-d", "--name", "ws", "--expose", "80", "bb", "sh", "-c", UPGRADE_ECHO)
    until(lambda: "ws" in p.status()["domains"]["names"], what="ws listed")

    def upgrade():
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /chat HTTP/1.1\r\nHost: ws.default.berth.localhost\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        if data.startswith(b"HTTP/1.1 101 "):
            return s
        s.close()  # nc not listening yet: berth's 502 page
        return None

    s = until(upgrade, what="101 from ws")
    with s:
        for message in (b"\x81\x05hello", b"second frame"):
            s.sendall(message)
            echoed = b""
            while len(echoed) < len(message):
                chunk = s.recv(4096)
                assert chunk, echoed
                echoed += chunk
            assert echoed == message


def test_name_requests_and_open_name_connections_count_for_berth_idle(names):
    p, port, _ = names
    # httpd as PID 1 ignores SIGTERM: the stop ends at the container's own stop timeout.
    p.docker("run", "-d", "--name", "napper", "-l", "berth.wake=true", "-l", "berth.idle=3s",
             "--stop-timeout", "1", "-e", "PAGE=napper", "bbweb")
    host = "napper.default.berth.localhost"
    running = lambda: p.docker("inspect", "-f", "{{.State.Running}}", "napper").stdout.strip() == b"true"
    until(lambda: get(port, host)[0] == 200, what="napper served")
    # A request every second for 6 s: each one restarts its 3 s of idleness.
    for _ in range(6):
        code, _, body = get(port, host)
        assert code == 200 and body.strip() == "napper", (code, body)
        time.sleep(1)
    assert running(), "stopped by berth.idle while requests by name came every second"
    # A kept-alive connection, open after its answer, holds it awake.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())
        data = b""
        while b"napper" not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        time.sleep(5)
        assert running(), "stopped by berth.idle while a connection by name was open"
    closed = time.monotonic()
    until(lambda: not running(), timeout=15, what="berth.idle's stop after the connection closed")
    assert time.monotonic() - closed >= 2.0
    # Asleep again, and the next request by name wakes it.
    until(lambda: "napper" in p.status()["domains"]["names"], what="napper listed asleep")
    code, _, body = get(port, host, timeout=40)
    assert code == 200 and body.strip() == "napper", (code, body)


def test_an_idle_stopped_guest_is_held_by_a_name_connection_and_booted_by_a_name(names):
    p, _, _ = names
    p.start("--idle-stop", "2s", "--no-activate", profile="idle")
    build_bbweb(p, "idle")
    sock = "unix://" + p.sock("idle")
    port = p.status("idle")["domains"]["port"]
    host = "sleepy.idle.berth.localhost"
    p.docker("run", "-d", "--name", "sleepy", "-l", "berth.wake=true", "--stop-timeout", "1",
             "-e", "PAGE=idle-woken", "bbweb", host=sock)
    until(lambda: get(port, host)[0] == 200, what="sleepy served")
    p.docker("stop", "sleepy", host=sock)
    boot = lambda: p.status("idle")["boot"]
    # (The guest may already have idle-stopped and booted again during the set-up's pauses.)
    # An open connection to the names front is a client: the guest is not idle while it lasts
    # (here one that has not sent its whole head yet).
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\n")
        before = boot()
        assert before["state"] == "up", before
        time.sleep(4.5)
        held = boot()
        assert held["state"] == "up" and held["idleStops"] == before["idleStops"], (before, held)
    until(lambda: boot()["state"] == "down", timeout=20, what="the guest's idle stop")
    boots = boot()["boots"]
    # A request by name boots it, wakes the container and is answered by it.
    t = time.monotonic()
    code, _, body = get(port, host, timeout=60)
    assert code == 200 and body.strip() == "idle-woken", (code, body)
    print("first byte by name through an idle-stopped guest: %.0f ms" % ((time.monotonic() - t) * 1000))
    assert boot()["boots"] == boots + 1 and boot()["state"] == "up"
    assert p.docker("inspect", "-f", "{{.State.Running}}", "sleepy", host=sock).stdout.strip() == b"true"
    p.berth("stop", "idle")
