"""Helpers for the profile tests (berth start/stop/status/... with the `ns` driver): a temp
BERTH_HOME and DOCKER_CONFIG per test, the berth CLI run with them, and checks that a profile
left nothing behind (dockerd, netns, veth, mounts)."""
import json
import os
import shutil
import subprocess

from berth_harness import BERTH_BIN, DOCKER, import_bb, run, short_tmpdir


def fnv1a(text):
    h = 2166136261
    for c in text.encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


class Profiles:
    """A berth home for one test. `berth(...)` runs the CLI; `docker(...)` the docker CLI
    with this home's DOCKER_CONFIG (so `--context berth` means this home's profile)."""

    def __init__(self):
        self.home = short_tmpdir("pf")
        self.docker_config = os.path.join(self.home, "dc")
        self.env = dict(os.environ, BERTH_HOME=self.home, DOCKER_CONFIG=self.docker_config)
        for k in ("DOCKER_HOST", "DOCKER_CONTEXT", "BERTH_PROFILE", "DOCKER_TLS_VERIFY"):
            self.env.pop(k, None)

    def dir(self, profile="default"):
        return os.path.join(self.home, profile)

    def sock(self, profile="default"):
        return os.path.join(self.dir(profile), "docker.sock")

    def berth(self, *args, check=True, timeout=180, env=None):
        return run([BERTH_BIN] + list(args), env=env or self.env, check=check, timeout=timeout)

    def start(self, *args, profile="default"):
        extra = [] if profile == "default" else ["-p", profile]
        return self.berth("start", "--vm-type", "ns", *extra, *args)

    def status(self, profile="default"):
        p = self.berth("status", "--json", "-p", profile, check=False)
        return json.loads(p.stdout)

    def docker(self, *args, check=True, timeout=120, host=None, **kw):
        env = dict(self.env)
        if host:
            env["DOCKER_HOST"] = host
        return run([DOCKER] + list(args), env=env, check=check, timeout=timeout, **kw)

    def import_bb(self, profile="default"):
        """Imports the harness's busybox image `bb` through the profile's socket."""
        import_bb(self.sock(profile), os.path.join(self.home, "scratch-" + profile))

    def daemon_pid(self, profile="default"):
        with open(os.path.join(self.dir(profile), "daemon.pid")) as f:
            return int(f.read().strip())

    def dockerd_pid(self, profile="default"):
        with open(os.path.join(self.dir(profile), "guest", "dockerd.pid")) as f:
            return int(f.read().strip())

    def netns(self, profile="default"):
        return "berth-%08x" % fnv1a(self.dir(profile))

    def exec_root(self, profile="default"):
        """dockerd's --exec-root (containerd's state and sockets): short, under /run."""
        return "/run/berth/%08x/" % fnv1a(self.dir(profile))

    def guest_processes(self, profile="default"):
        """Live processes of the profile's guest: dockerd, containerd, shims."""
        return (live_processes_mentioning(os.path.join(self.dir(profile), "guest") + "/") +
                live_processes_mentioning(self.exec_root(profile)))

    def veth(self, profile="default"):
        return "bph%08x" % fnv1a(self.dir(profile))

    def cleanup(self):
        for name in sorted(os.listdir(self.home)) if os.path.isdir(self.home) else []:
            if os.path.exists(os.path.join(self.home, name, "berth.yaml")):
                self.berth("stop", "-f", name, check=False, timeout=120)
        shutil.rmtree(self.home, ignore_errors=True)


def live_processes_mentioning(text):
    """Pids of live (not zombie) processes whose command line contains `text`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append((int(pid), cmd.strip()))
    return found


def netns_exists(name):
    return os.path.exists("/var/run/netns/" + name)


def link_exists(name):
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]
