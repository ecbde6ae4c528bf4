"""berth start/stop/status/delete with the `ns` driver, through the real docker CLI: the
profile's socket and docker context, what stop leaves behind (nothing), two profiles at once,
shares at a guest path that differs from the host path, --dns, --env and the docker: map."""
import json
import os

from profiles_helpers import (link_exists, live_processes_mentioning, mounts_under,
                              netns_exists)


def test_start_run_status_stop_delete(profiles):
    p = profiles.start()
    assert "docker context use berth" in p.stdout.decode()
    assert "export DOCKER_HOST=unix://" + profiles.sock() in p.stdout.decode()
    profiles.import_bb()

    out = profiles.docker("--context", "berth", "run", "--rm", "bb", "echo", "ok").stdout
    assert out.decode().strip() == "ok"

    status = profiles.status()
    assert status["status"] == "Running"
    assert status["socket"] == profiles.sock()
    assert status["dockerHost"] == "unix://" + profiles.sock()
    assert status["driver"] == "ns" and status["context"] == "berth"
    assert status["address"].startswith("172.30.") and status["address"].endswith(".2")
    # The docker CLI's own store has the context, and it is current (--activate defaults on).
    with open(os.path.join(profiles.docker_config, "config.json")) as f:
        assert json.load(f)["currentContext"] == "berth"
    ctx = profiles.docker("context", "inspect", "berth", "--format",
                          "{{.Endpoints.docker.Host}}").stdout.decode().strip()
    assert ctx == "unix://" + profiles.sock()
    human = profiles.berth("status").stdout.decode()
    assert "running using the ns driver" in human and profiles.sock() in human

    procs = " ".join(cmd for _, cmd in profiles.guest_processes())
    assert "dockerd" in procs and "containerd" in procs, procs
    assert netns_exists(profiles.netns()) and link_exists(profiles.veth())

    stop = profiles.berth("stop")
    assert "stopped" in stop.stderr.decode()
    assert profiles.guest_processes() == []
    assert live_processes_mentioning(profiles.dir() + "/") == []
    assert not os.path.exists(profiles.exec_root())
    assert not netns_exists(profiles.netns())
    assert not link_exists(profiles.veth())
    assert mounts_under(profiles.home) == []
    assert profiles.berth("status", check=False).returncode == 1
    assert profiles.status()["status"] == "Stopped"

    profiles.berth("delete", "-f", "--data")
    assert not os.path.exists(profiles.dir())
    ls = profiles.docker("context", "ls", "--format", "{{.Name}}").stdout.decode().split()
    assert "berth" not in ls
    with open(os.path.join(profiles.docker_config, "config.json")) as f:
        assert "currentContext" not in json.load(f)


def test_delete_keeps_container_data_without_data_flag(profiles):
    profiles.start()
    profiles.import_bb()
    profiles.berth("delete", "-f")
    assert not os.path.exists(os.path.join(profiles.dir(), "berth.yaml"))
    assert os.path.isdir(os.path.join(profiles.dir(), "guest", "data"))
    # The same name starts again on the data that was kept: the image is still there.
    profiles.start()
    out = profiles.docker("--context", "berth", "images", "--format", "{{.Repository}}").stdout
    assert "bb" in out.decode().split()


def test_two_profiles_at_once(profiles):
    profiles.start(profile="alpha")
    profiles.start("--activate=false", profile="beta")
    a, b = profiles.status("alpha"), profiles.status("beta")
    assert a["socket"] != b["socket"] and a["address"] != b["address"]
    assert (a["context"], b["context"]) == ("berth-alpha", "berth-beta")
    with open(os.path.join(profiles.docker_config, "config.json")) as f:
        assert json.load(f)["currentContext"] == "berth-alpha"
    profiles.import_bb("alpha")
    profiles.import_bb("beta")
    profiles.docker("--context", "berth-alpha", "run", "-d", "--name", "only-in-alpha", "bb",
                    "sleep", "300")
    profiles.docker("--context", "berth-beta", "run", "-d", "--name", "only-in-beta", "bb",
                    "sleep", "300")
    names_a = profiles.docker("--context", "berth-alpha", "ps", "-a", "--format",
                              "{{.Names}}").stdout.decode().split()
    names_b = profiles.docker("--context", "berth-beta", "ps", "-a", "--format",
                              "{{.Names}}").stdout.decode().split()
    assert names_a == ["only-in-alpha"] and names_b == ["only-in-beta"]
    rows = [json.loads(line) for line in profiles.berth("list", "--json").stdout.decode().splitlines()]
    assert [(r["name"], r["status"]) for r in rows] == [("alpha", "Running"), ("beta", "Running")]
    table = profiles.berth("list").stdout.decode().splitlines()
    assert table[0].split() == ["PROFILE", "STATUS", "ARCH", "CPUS", "MEMORY", "DISK", "RUNTIME",
                                "ADDRESS"]
    profiles.berth("stop", "alpha")
    # beta is untouched by alpha's stop.
    assert profiles.status("beta")["status"] == "Running"
    assert profiles.docker("--context", "berth-beta", "ps", "-q").stdout.strip()


def test_share_at_another_guest_path_dns_env_and_daemon_json(profiles):
    host_dir = os.path.join(profiles.home, "h")
    guest_dir = os.path.join(profiles.home, "g", "share")  # differs from the host path
    os.makedirs(host_dir)
    with open(os.path.join(host_dir, "hello.txt"), "w") as f:
        f.write("from the host\n")
    os.makedirs(profiles.dir())
    with open(os.path.join(profiles.dir(), "berth.yaml"), "w") as f:
        f.write("docker:\n  labels: [\"berth-test=yes\"]\n")
    profiles.start("--mount", host_dir + ":" + guest_dir + ":w", "--dns", "10.99.88.77",
                   "--env", "BERTH_TEST_ENV=hello")
    profiles.import_bb()
    status = profiles.status()
    assert status["mounts"] == [{"location": host_dir, "mountPoint": guest_dir, "writable": True}]
    # The guest sees the host folder at the guest path; containers name the host path, which
    # berth's mounts filter translates to the guest path.
    out = profiles.docker("--context", "berth", "run", "--rm", "-v", host_dir + ":/s", "bb",
                          "sh", "-c", "cat /s/hello.txt; echo back > /s/written.txt").stdout
    assert out.decode() == "from the host\n"
    with open(os.path.join(host_dir, "written.txt")) as f:
        assert f.read() == "back\n"
    # The bind mount lives only in the guest's mount namespace: on the host the mount point is
    # an empty directory (removed at stop) and no mount exists.
    assert os.listdir(guest_dir) == []
    assert mounts_under(profiles.home) == []
    ssh = profiles.berth("ssh", "--", "cat", os.path.join(guest_dir, "hello.txt")).stdout
    assert ssh.decode() == "from the host\n"
    # --dns: the guest's resolver, which containers inherit.
    assert "nameserver 10.99.88.77" in profiles.berth("ssh", "--", "cat", "/etc/resolv.conf").stdout.decode()
    resolv = profiles.docker("--context", "berth", "run", "--rm", "bb", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 10.99.88.77" in resolv.decode()
    # --env: dockerd's environment.
    with open("/proc/%d/environ" % profiles.dockerd_pid(), "rb") as f:
        assert b"BERTH_TEST_ENV=hello" in f.read().split(b"\0")
    # docker: map -> daemon.json
    labels = profiles.docker("--context", "berth", "info", "--format", "{{json .Labels}}").stdout
    assert "berth-test=yes" in json.loads(labels)
    # The guest's network: its own namespace, a veth address that is not loopback.
    addr = profiles.berth("ssh", "--", "ip", "-4", "-o", "addr", "show", "eth0").stdout.decode()
    assert status["address"] + "/24" in addr
    profiles.berth("stop")
    assert not os.path.exists(os.path.join(profiles.home, "g")), "mount point dirs left behind"


def test_template_and_flag_precedence(profiles):
    printed = profiles.berth("template", "--print").stdout.decode()
    assert "cpus: 2" in printed and "vmType:" in printed
    os.makedirs(os.path.join(profiles.home, "_templates"))
    with open(os.path.join(profiles.home, "_templates", "default.yaml"), "w") as f:
        f.write("cpus: 3\nmemory: 5\nboot:\n  lazy: true\n")
    profiles.start("--memory", "6", profile="tpl")
    s = profiles.status("tpl")
    assert (s["cpus"], s["memory"], s["boot"]["lazy"]) == (3, 6, True)  # template, flag, template
    assert s["boot"]["state"] == "down"  # lazy from the template: nothing booted yet
    with open(os.path.join(profiles.dir("tpl"), "berth.yaml")) as f:
        text = f.read()
    assert "cpus: 3" in text and "memory: 6" in text and "vmType: ns" in text
