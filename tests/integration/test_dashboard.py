"""The dashboard (issue 17) against a real `ns` profile and its dockerd: its security answers
over plain HTTP, then the page itself in Debian's chromium (headless, puppeteer-core from
tests/integration/node): containers made with the docker CLI appear, their port links answer,
CPU moves, logs follow, stop/remove work (remove asks first), a cross-site POST is refused, the
guest stops and boots from the page, and the page's JS heap is measured under live updates.
Screenshots go to build/dashboard-screenshots/ (or $BERTH_DASHBOARD_SHOTS)."""
import collections
import http.client
import json
import os
import shutil
import threading
import time

import pytest

from berth_harness import ROOT, run
from test_profiles_errors import one_line

NODE_DIR = os.path.join(ROOT, "tests", "integration", "node")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("BERTH_DASHBOARD_SHOTS") or os.path.join(ROOT, "build", "dashboard-screenshots")


def request(port, method, path, host=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest(method, path, skip_host=True)
    conn.putheader("Host", host or "127.0.0.1:%d" % port)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    conn.endheaders()
    reply = conn.getresponse()
    body = reply.read()
    conn.close()
    return reply, body


def open_dashboard(profiles, *start_args):
    profiles.start(*start_args)
    profiles.import_bb()
    url = profiles.berth("dashboard", "--no-open").stdout.decode().strip()
    port = int(url.split(":")[2].split("/")[0])
    token = url.split("token=")[1]
    return profiles, url, port, token


@pytest.fixture
def dashboard(profiles):
    return open_dashboard(profiles)


def page_session(port, token):
    """The page's cookie and CSRF token, as the browser gets them."""
    reply, _ = request(port, "GET", "/?token=" + token)
    cookie = reply.getheader("Set-Cookie").split(";")[0]
    _, body = request(port, "GET", "/api/session", headers={"Cookie": cookie})
    return cookie, json.loads(body)["csrf"]


def run_browser(profiles, url, scenario, heap_seconds=0):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("chromium not found at %s (apt-get install chromium)" % CHROMIUM)
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "puppeteer-core")):
        run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, timeout=300,
            env=dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1"))
    # BERTH_DASHBOARD_HEAP_LOG: a file that gets one JSON line per heap sample as it is taken.
    env = dict(profiles.env, DASHBOARD_URL=url, DOCKER_HOST="unix://" + profiles.sock(),
               SHOT_DIR=SHOTS, CHROMIUM=CHROMIUM, HEAP_SECONDS=str(heap_seconds),
               DAEMON_PID=str(profiles.daemon_pid()), SCENARIO=scenario,
               HEAP_LOG=os.environ.get("BERTH_DASHBOARD_HEAP_LOG", ""))
    p = run(["node", os.path.join(NODE_DIR, "dashboard-check.js")], env=env, check=False,
            timeout=600 + heap_seconds)
    out = p.stdout.decode().strip().splitlines()
    print("dashboard measurements (%s):" % scenario, out[-1] if out else "")
    print("screenshots in", SHOTS)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    return json.loads(out[-1])


def test_dashboard_refuses_requests_without_cookie_host_or_csrf(dashboard):
    profiles, url, port, token = dashboard
    # The token file is the profile's, private; the port stays the same for the profile.
    path = os.path.join(profiles.dir(), "dashboard.token")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert open(path).read().strip() == token
    assert profiles.berth("dashboard", "--no-open").stdout.decode().strip() == url

    reply, body = request(port, "GET", "/")
    assert reply.status == 401, body
    reply, _ = request(port, "GET", "/api/status")
    assert reply.status == 401
    reply, _ = request(port, "GET", "/?token=" + "0" * 64)
    assert reply.status == 401
    reply, _ = request(port, "GET", "/?token=" + token)
    assert reply.status == 303 and reply.getheader("Location") == "/"
    cookie = reply.getheader("Set-Cookie").split(";")[0]
    assert "HttpOnly" in reply.getheader("Set-Cookie")
    assert "SameSite=Strict" in reply.getheader("Set-Cookie")

    reply, body = request(port, "GET", "/", headers={"Cookie": cookie})
    assert reply.status == 200 and b"<script src=\"/app.js\"" in body
    assert reply.getheader("Content-Security-Policy").startswith("default-src 'self'")
    assert not [h for h, _ in reply.getheaders() if h.lower().startswith("access-control-")]
    # DNS rebinding: a foreign Host is refused even with the cookie (and with the token).
    for host in ("evil.example:%d" % port, "evil.example", "127.0.0.1:1"):
        reply, _ = request(port, "GET", "/api/status", host=host, headers={"Cookie": cookie})
        assert reply.status == 403, host
    reply, _ = request(port, "GET", "/?token=" + token, host="evil.example:%d" % port)
    assert reply.status == 403
    reply, _ = request(port, "GET", "/", host="localhost:%d" % port, headers={"Cookie": cookie})
    assert reply.status == 200

    # A change without the page's CSRF token (or as a GET) is refused and changes nothing.
    profiles.docker("run", "-d", "--name", "keep", "bb", "sleep", "300")
    for method, headers in (("POST", {"Cookie": cookie}),
                            ("POST", {"Cookie": cookie, "X-Berth-CSRF": "0" * 64}),
                            ("GET", {"Cookie": cookie})):
        reply, _ = request(port, method, "/api/do/containers/keep/stop", headers=headers)
        assert reply.status == 403, (method, headers)
        reply, _ = request(port, method, "/api/do/guest/stop", headers=headers)
        assert reply.status == 403, (method, headers)
    reply, _ = request(port, "PUT", "/api/do/guest/stop", headers={"Cookie": cookie})
    assert reply.status == 405
    state = profiles.docker("inspect", "-f", "{{.State.Status}}", "keep").stdout.decode().strip()
    assert state == "running"
    assert profiles.status()["guest"]["state"] == "Running"

    # With the token from /api/session, the same POST works.
    reply, body = request(port, "GET", "/api/session", headers={"Cookie": cookie})
    csrf = json.loads(body)["csrf"]
    reply, body = request(port, "POST", "/api/do/containers/keep/stop",
                          headers={"Cookie": cookie, "X-Berth-CSRF": csrf})
    assert reply.status in (200, 204), body
    state = profiles.docker("inspect", "-f", "{{.State.Status}}", "keep").stdout.decode().strip()
    assert state == "exited"
    # A bad id never reaches the engine.
    reply, body = request(port, "POST", "/api/do/containers/..%2fx/stop",
                          headers={"Cookie": cookie, "X-Berth-CSRF": csrf})
    assert reply.status == 400 and b"message" in body


def test_dashboard_in_chromium(dashboard):
    profiles, url, port, token = dashboard
    shutil.rmtree(SHOTS, ignore_errors=True)
    results = run_browser(profiles, url, "main",
                          int(os.environ.get("BERTH_DASHBOARD_HEAP_SECONDS", "45")))
    assert len(results["shots"]) == 5 and all(os.path.getsize(s) > 10000 for s in results["shots"])
    # The docker CLI agrees with what the page did.
    assert profiles.docker("ps", "-a", "-q").stdout.strip() == b""
    assert profiles.status()["guest"]["state"] == "Running"


def test_requests_from_the_page_during_a_stop_do_not_boot_the_guest_again(dashboard):
    """The page polls while the guest stops: a poll that reached berth just as the stop began
    used to queue for the next boot, so the guest booted again the moment it stopped."""
    profiles, url, port, token = dashboard
    cookie, csrf = page_session(port, token)
    boots = profiles.status()["boot"]["boots"]
    stop = threading.Event()
    answers = collections.Counter()

    def poll():
        while not stop.is_set():
            try:
                reply, _ = request(port, "GET", "/api/containers", headers={"Cookie": cookie})
                answers[reply.status] += 1
            except OSError:
                answers["error"] += 1

    pollers = [threading.Thread(target=poll) for _ in range(6)]
    for t in pollers:
        t.start()
    try:
        time.sleep(0.5)
        reply, body = request(port, "POST", "/api/do/guest/stop",
                              headers={"Cookie": cookie, "X-Berth-CSRF": csrf})
        assert reply.status == 200, body
        time.sleep(2)  # the pollers keep asking while the guest is down
        state = profiles.status()
    finally:
        stop.set()
        for t in pollers:
            t.join()
    print("poll answers during the stop:", dict(answers))
    assert state["guest"]["state"] == "Stopped", state["guest"]
    assert state["boot"]["boots"] == boots, "the page's requests booted the guest again"
    assert answers[200] > 0 and answers[503] > 0, answers


def test_an_open_page_lets_the_guest_idle_stop_and_follows_the_next_boot(profiles):
    profiles, url, port, token = open_dashboard(profiles, "--idle-stop", "6s")
    results = run_browser(profiles, url, "idle")
    assert profiles.status()["boot"]["idleStops"] >= 2


def test_dashboard_true_in_berth_yaml_serves_the_page_from_the_start(profiles):
    os.makedirs(profiles.dir(), mode=0o700)
    config = os.path.join(profiles.dir(), "berth.yaml")
    with open(config, "w") as f:
        f.write("vmType: ns\ndashboard: true\n")
    profiles.start("--lazy")
    served = profiles.status()["dashboard"]
    assert served and served["url"].startswith("http://127.0.0.1:"), served
    port = int(served["url"].split(":")[2].split("/")[0])
    assert request(port, "GET", "/")[0].status == 401  # served, and guarded
    profiles.berth("stop")
    # A bad value: one line naming the key, and the file stays as it was.
    with open(config, "a") as f:
        f.write("dashboard: maybe\n")
    before = open(config, "rb").read()
    p = profiles.berth("start", "--lazy", check=False)
    assert p.returncode == 1
    line = one_line(p)
    assert "dashboard" in line and "true or false" in line, line
    assert open(config, "rb").read() == before
    assert not os.path.exists(os.path.join(profiles.dir(), "daemon.pid"))
