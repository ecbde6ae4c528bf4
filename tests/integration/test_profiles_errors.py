"""Bad input to the profile commands: one clear line, exit code 1 (or 0 where Colima treats
it as nothing to do), and nothing changed."""
import os

from profiles_helpers import live_processes_mentioning


def one_line(p):
    lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
    assert len(lines) == 1, p.stderr.decode()
    assert lines[0].startswith("berth: ")
    return lines[0]


def test_invalid_profile_name(profiles):
    for bad in ("Bad_Name", "../etc", "-x", "a" * 32):
        p = profiles.berth("start", "--vm-type", "ns", "-p", bad, check=False)
        assert p.returncode == 1
        assert "invalid profile name" in one_line(p) or "--" in p.stderr.decode()
    assert os.listdir(profiles.home) == []


def test_unknown_flag(profiles):
    p = profiles.berth("start", "--vm-type", "ns", "--no-such-flag", check=False)
    assert p.returncode == 1
    assert "--no-such-flag" in one_line(p)
    assert os.listdir(profiles.home) == []


def test_malformed_yaml_names_file_and_line(profiles):
    os.makedirs(profiles.dir())
    config = os.path.join(profiles.dir(), "berth.yaml")
    text = "cpus: 2\nmemory: 4\nmounts: [ {location: /tmp\n"
    with open(config, "w") as f:
        f.write(text)
    p = profiles.berth("start", "--vm-type", "ns", check=False)
    assert p.returncode == 1
    line = one_line(p)
    assert config + ":" in line, line
    with open(config) as f:
        assert f.read() == text
    assert sorted(os.listdir(profiles.dir())) == ["berth.yaml"]
    # `berth list` still lists it (as Invalid), saying why on stderr.
    p = profiles.berth("list")
    assert p.stdout.decode().splitlines()[1].split()[:2] == ["default", "Invalid"]
    assert config + ":" in p.stderr.decode()
    # A bad value names its line too.
    with open(config, "w") as f:
        f.write("cpus: 2\nmemory: lots\n")
    line = one_line(profiles.berth("start", "--vm-type", "ns", check=False))
    assert config + ":2:" in line and "memory" in line


def test_start_running_and_stop_stopped_change_nothing(profiles):
    profiles.start()
    pid = profiles.daemon_pid()
    dockerd = profiles.dockerd_pid()
    with open(os.path.join(profiles.dir(), "berth.yaml")) as f:
        before = f.read()
    p = profiles.berth("start", check=False)
    assert p.returncode == 0  # as colima: nothing to do
    assert "already running" in one_line(p)
    assert (profiles.daemon_pid(), profiles.dockerd_pid()) == (pid, dockerd)
    # Changing a setting of a running profile is refused.
    p = profiles.berth("start", "--cpus", "7", check=False)
    assert p.returncode == 1 and "is running" in one_line(p)
    with open(os.path.join(profiles.dir(), "berth.yaml")) as f:
        assert f.read() == before
    profiles.berth("stop")
    p = profiles.berth("stop", check=False)
    assert p.returncode == 0 and "not running" in one_line(p)
    p = profiles.berth("stop", "-p", "nosuch", check=False)
    assert p.returncode == 1 and "does not exist" in one_line(p)


def test_immutable_settings_and_unavailable_driver(profiles):
    profiles.start()
    profiles.berth("stop")
    with open(os.path.join(profiles.dir(), "berth.yaml")) as f:
        before = f.read()
    p = profiles.berth("start", "--vm-type", "qemu", check=False)
    assert p.returncode == 1
    line = one_line(p)
    assert "vmType" in line and "cannot change" in line and "berth delete" in line
    with open(os.path.join(profiles.dir(), "berth.yaml")) as f:
        assert f.read() == before
    assert live_processes_mentioning(profiles.dir() + "/") == []
    # (qemu is a real driver now: tests/e2e/test_qemu_vm.py) An unknown driver is refused.
    p = profiles.berth("start", "-p", "vm", "--vm-type", "xen", check=False)
    assert p.returncode == 1 and "xen" in one_line(p), one_line(p)
    assert not os.path.exists(profiles.dir("vm"))


def test_berth_home_too_deep_for_sockets(profiles):
    deep = os.path.join(profiles.home, "d" * 90)
    env = dict(profiles.env, BERTH_HOME=deep)
    p = profiles.berth("start", "--vm-type", "ns", check=False, env=env)
    assert p.returncode == 1
    line = one_line(p)
    assert "at most 107" in line and "BERTH_HOME" in line
    assert not os.path.exists(deep)
