"""Socket activation (issue 16): a profile's daemon takes the listening docker.sock a service
manager hands it by the LISTEN_FDS protocol and boots the guest on the first request.
systemd-socket-activate (Debian's systemd package) is the activator here: it listens on the
profile's socket and starts `berth daemon --profile P` only when a client connects. The units
berth writes are checked by systemd-analyze. A run under a real systemd (berth service install)
needs a booted systemd, which these machines do not have: tests/ci/suites/46-systemd-service.sh
reports that part as not run."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from berth_harness import BERTH_BIN, DOCKER, run, wait_until

ACTIVATE = shutil.which("systemd-socket-activate")


def daemon_pids(profiles):
    out = subprocess.run(["pgrep", "-f", "daemon --profile default"], capture_output=True,
                         text=True).stdout.split()
    return [int(p) for p in out if os.path.exists("/proc/%s" % p) and
            profiles.home in open("/proc/%s/environ" % p, "rb").read().decode(errors="replace")]


@pytest.mark.skipif(ACTIVATE is None, reason="systemd-socket-activate is not installed")
def test_first_request_starts_the_daemon_and_boots_the_guest(profiles):
    profiles.start("--lazy")  # creates the profile (ns driver)
    profiles.berth("stop")
    sock = profiles.sock()
    assert not os.path.exists(sock)
    activator = subprocess.Popen(
        [ACTIVATE, "-l", sock, "-E", "BERTH_HOME=" + profiles.home, BERTH_BIN, "daemon",
         "--profile", "default", "--debug"],
        env=profiles.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: os.path.exists(sock), 10, "the activator listening on " + sock)
        time.sleep(0.5)
        # Listening, but nothing of berth runs yet: no daemon (status exits 1), no guest.
        assert profiles.berth("status", check=False).returncode == 1
        assert not os.path.exists(os.path.join(profiles.dir(), "daemon.pid"))
        assert profiles.guest_processes() == []

        p = run([DOCKER, "-H", "unix://" + sock, "version", "--format",
                 "{{.Server.Version}}"], timeout=120)
        assert p.stdout.decode().strip(), p.stdout
        # The daemon that answered is the process the activator started (it execs it).
        with open(os.path.join(profiles.dir(), "daemon.pid")) as f:
            assert int(f.read()) == activator.pid
        status = profiles.status()
        assert status["daemon"]["socketActivated"] is True
        assert status["boot"]["lazy"] is True and status["boot"]["boots"] == 1
        assert profiles.guest_processes() != []
        # The passed socket stays the activator's: the same file, and it keeps serving.
        run([DOCKER, "-H", "unix://" + sock, "info", "--format", "{{.ServerVersion}}"])
        profiles.berth("stop")
        activator.wait(timeout=60)
        assert profiles.guest_processes() == []
    finally:
        if activator.poll() is None:
            activator.send_signal(signal.SIGTERM)
            activator.wait(timeout=60)
        log = activator.stdout.read().decode(errors="replace")
        print(log[-3000:])
    assert "socket activation: serving the passed socket" in log


def test_passed_fds_for_another_socket_are_refused(profiles, tmp_short):
    if ACTIVATE is None:
        pytest.skip("systemd-socket-activate is not installed")
    profiles.start("--lazy")
    profiles.berth("stop")
    other = os.path.join(tmp_short, "other.sock")
    activator = subprocess.Popen(
        [ACTIVATE, "-l", other, "-E", "BERTH_HOME=" + profiles.home, BERTH_BIN, "daemon",
         "--profile", "default"], env=profiles.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: os.path.exists(other), 10, "the activator listening")
        subprocess.run([DOCKER, "-H", "unix://" + other, "version"], capture_output=True,
                       timeout=60)
        assert activator.wait(timeout=30) == 1
        out = activator.stdout.read().decode()
        assert "none of them a listening unix socket at " + profiles.sock() in out, out
    finally:
        if activator.poll() is None:
            activator.kill()
            activator.wait()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_units_verify(tmp_short):
    for kind in ("service", "socket"):
        text = run([BERTH_BIN, "service", "unit", kind]).stdout.decode()
        with open(os.path.join(tmp_short, "berth@.%s" % kind), "w") as f:
            f.write(text)
    for kind in ("service", "socket"):
        os.symlink(os.path.join(tmp_short, "berth@.%s" % kind),
                   os.path.join(tmp_short, "berth@t.%s" % kind))
    p = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        os.path.join(tmp_short, "berth@t.socket"),
                        os.path.join(tmp_short, "berth@t.service")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "berth" not in p.stderr, p.stderr


def test_service_install_without_systemd_says_why(profiles):
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here: install would really enable units")
    home = os.path.join(profiles.home, "h")
    os.mkdir(home)
    env = dict(profiles.env, HOME=home, BERTH_HOME=os.path.join(home, ".berth"))
    p = profiles.berth("service", "install", check=False, env=env)
    assert p.returncode == 1 and "does not exist" in p.stderr.decode(), p.stderr
    profiles.berth("start", "--vm-type", "ns", "--lazy", env=env)
    profiles.berth("stop", env=env)
    p = profiles.berth("service", "install", check=False, env=env)
    assert p.returncode == 1
    line = p.stderr.decode().strip()
    assert "\n" not in line and "system manager is not running here" in line, line
    assert not os.path.exists("/etc/systemd/system/berth@.socket")
    # A profile outside ~/.berth cannot be served by the units (they name %h/.berth/%i).
    p = profiles.berth("service", "install", check=False)
    assert p.returncode == 1 and "~/.berth" in p.stderr.decode(), p.stderr
