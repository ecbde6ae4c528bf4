"""Port forwarding in the profile daemon (`berth start --vm-type ns`): forwards open after the
boot, show in `berth status` (--json too) with conflicts and their path (kernel DNAT on
127.0.0.1, relay on ::1), and close with `berth stop`, which also drops the DNAT table."""
import os
import re
import socket
import subprocess

from berth_harness import BERTH_BIN
from forwarding_helpers import HTTPD, accepts, http_get_retry, wait_until


def test_profile_forwards_and_status(profiles):
    profiles.start()
    profiles.import_bb()
    host = "unix://" + profiles.sock()
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 18701))
    holder.listen(1)
    try:
        profiles.docker("run", "-d", "--name", "pweb", "-p", "18700:80", "bb", *HTTPD, host=host)
        # A taken host port refuses the start through berth, as Docker does on its host...
        p = profiles.docker("run", "-d", "--name", "pblocked", "-p", "18701:80", "bb", *HTTPD,
                            host=host, check=False)
        assert p.returncode != 0 and ("driver failed programming external connectivity on "
                                      "endpoint pblocked") in p.stderr.decode(), p.stderr
        # ...and a container started behind berth's back (here: straight at the guest's
        # engine, as a restart policy would) gets a conflict, retried until the port is free.
        engine = "unix://" + profiles.dir() + "/guest/engine.sock"
        profiles.docker("start", "pblocked", host=engine)
        assert http_get_retry("127.0.0.1", 18700).startswith("hello-")
        assert http_get_retry("::1", 18700).startswith("hello-")
        # On the guest's loopback only: reached from inside the guest's network namespace.
        profiles.docker("run", "-d", "--name", "plo", "-p", "127.0.0.1:18702:80", "bb", *HTTPD,
                        host=host)
        assert http_get_retry("127.0.0.1", 18702).startswith("hello-")

        def listed():
            s = profiles.status()
            return {(f["proto"], f["host"], f["container"], f["containerPort"])
                    for f in s.get("forwards", [])}, s
        wait_until(lambda: ("tcp", "[::1]:18701", "pblocked", 80) in listed()[0], 5,
                   "forwards in berth status --json")
        got, status = listed()
        assert got == {("tcp", "127.0.0.1:18700", "pweb", 80), ("tcp", "[::1]:18700", "pweb", 80),
                       ("tcp", "[::1]:18701", "pblocked", 80), ("tcp", "127.0.0.1:18702", "plo", 80),
                       ("tcp", "[::1]:18702", "plo", 80)}
        assert [(c["host"], c["container"]) for c in status["forwardConflicts"]] == [
            ("127.0.0.1:18701", "pblocked")]
        # The kernel path is set up off the I/O thread: it may land a moment after the listener.
        wait_until(lambda: "forward: tcp 127.0.0.1:18700 -> pweb:80 (kernel)" in
                   profiles.berth("status").stdout.decode(), 5, "the kernel path in berth status")
        human = profiles.berth("status").stdout.decode()
        assert "forward: tcp [::1]:18700 -> pweb:80 (relay)" in human
        assert "forwarding 127.0.0.1: kernel DNAT (nftables table berth_" in human
        table = re.search(r"nftables table (\S+) ", status["forwardNat"]).group(1)
        assert table in subprocess.run(["nft", "list", "tables"], capture_output=True,
                                       text=True).stdout
        assert "port conflict: tcp 127.0.0.1:18701 wanted by pblocked: " in human
    finally:
        holder.close()
    assert http_get_retry("127.0.0.1", 18701).startswith("hello-")
    assert profiles.status()["forwardConflicts"] == []

    profiles.berth("stop")
    assert not accepts("127.0.0.1", 18700) and not accepts("127.0.0.1", 18701)
    assert not accepts("127.0.0.1", 18702)
    assert table not in subprocess.run(["nft", "list", "tables"], capture_output=True,
                                       text=True).stdout


def test_a_service_started_with_berth_ssh_is_forwarded(profiles):
    """Issue 13 item 5 in a profile: a process listening in the guest that no container
    publishes (here a web server started with `berth ssh`) answers on host loopback, shows in
    `berth status` as a guest listener, and its forward closes when it stops."""
    profiles.start()
    www = os.path.join(profiles.home, "www")
    os.makedirs(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("from-ssh\n")
    service = subprocess.Popen([BERTH_BIN, "ssh", "--", "busybox", "httpd", "-f", "-p",
                                "127.0.0.1:18720", "-h", www], env=profiles.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert http_get_retry("127.0.0.1", 18720) == "from-ssh\n"
        status = profiles.status()
        assert status["forwardGuestListeners"] == "on"
        mine = [f for f in status["forwards"] if f["host"] == "127.0.0.1:18720"]
        assert mine and mine[0]["origin"] == "guest listener", status["forwards"]
        human = profiles.berth("status").stdout.decode()
        assert "forward: tcp 127.0.0.1:18720 -> guest listener :18720 (relay)" in human, human
        assert "forwarding guest listeners: on" in human
    finally:
        service.terminate()
        service.wait(10)
    wait_until(lambda: not accepts("127.0.0.1", 18720), 5, "the forward to close")
    assert all(f["host"] != "127.0.0.1:18720" for f in profiles.status()["forwards"])
