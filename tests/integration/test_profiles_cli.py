"""The profile commands' surface: --help everywhere, progress while booting, restart,
version, the default driver for this machine, --foreground."""
import os
import signal
import subprocess
import time

from berth_harness import BERTH_BIN

COMMANDS = ["start", "stop", "restart", "delete", "status", "list", "template", "version", "ssh",
            "daemon"]


def test_help_on_every_command(profiles):
    for command in COMMANDS:
        p = profiles.berth(command, "--help")
        assert "Usage:" in p.stdout.decode() and command in p.stdout.decode()
    top = profiles.berth("--help").stdout.decode()
    for command in COMMANDS:
        assert command in top


def test_start_shows_boot_progress_and_restart(profiles):
    err = profiles.start().stderr.decode()
    # What it waits for, and since when.
    assert "[0." in err and "dockerd answers on" in err and "guest up in" in err, err
    first = profiles.daemon_pid()
    err = profiles.berth("restart").stderr.decode()
    assert "stopping profile 'default'" in err and "guest up in" in err
    assert profiles.daemon_pid() != first
    assert profiles.status()["status"] == "Running"
    version = profiles.berth("version").stdout.decode()
    assert version.startswith("berth version ") and "engine: " in version


def test_default_driver_is_ns_without_a_usable_hypervisor(profiles):
    with open("/proc/cpuinfo") as f:
        hardware_virt = any(flag in f.read().split() for flag in ("vmx", "svm"))
    if hardware_virt and os.path.exists("/dev/kvm"):
        expected = "qemu"
    else:
        expected = "ns"
    p = profiles.berth("start", "--lazy", check=False)
    if expected == "ns":
        assert p.returncode == 0
        assert profiles.status()["driver"] == "ns"
    else:
        assert "(qemu driver" in p.stderr.decode() or "qemu" in p.stderr.decode().splitlines()[-1]


def test_foreground_runs_in_the_terminal_and_stops_on_ctrl_c(profiles):
    proc = subprocess.Popen([BERTH_BIN, "start", "--vm-type", "ns", "--foreground"],
                            env=profiles.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(profiles.sock()) and profiles.status().get("status") == "Running":
                break
            time.sleep(0.2)
        assert profiles.status()["status"] == "Running"
        profiles.docker("ps", host="unix://" + profiles.sock())
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    assert profiles.guest_processes() == []
    assert not os.path.exists(profiles.sock())


def test_edit_template_and_berth_profile_env(profiles):
    # --edit opens berth.yaml in $EDITOR before the start; the edit takes effect.
    env = dict(profiles.env, EDITOR="sed -i s/^cpus:.*/cpus:\\ 5/", BERTH_PROFILE="edited")
    profiles.berth("start", "--vm-type", "ns", "--lazy", "--edit", env=env)
    assert profiles.status("edited")["cpus"] == 5  # BERTH_PROFILE chose the profile
    # `berth template` edits the template (created on first use); a broken edit is refused
    # and the template is left as it was.
    env = dict(profiles.env, EDITOR="sed -i s/^cpus:.*/cpus:\\ 3/")
    profiles.berth("template", env=env)
    assert "cpus: 3" in profiles.berth("template", "--print").stdout.decode()
    env = dict(profiles.env, EDITOR="sed -i s/^cpus:.*/cpus:\\ [/")
    p = profiles.berth("template", env=env, check=False)
    assert p.returncode == 1 and "default.yaml:" in p.stderr.decode()
    assert "cpus: 3" in profiles.berth("template", "--print").stdout.decode()
    profiles.berth("start", "--vm-type", "ns", "--lazy", "-p", "fromtpl")
    assert profiles.status("fromtpl")["cpus"] == 3
    # The ns driver enforces no disk size, so none is shown, and --disk is refused.
    assert profiles.status("fromtpl")["disk"] is None
    p = profiles.berth("start", "--vm-type", "ns", "--disk", "10", "-p", "sized", check=False)
    assert p.returncode == 1 and "--disk is not enforced by the ns driver" in p.stderr.decode()
    assert not os.path.exists(profiles.dir("sized")), "a refused flag must leave nothing behind"
