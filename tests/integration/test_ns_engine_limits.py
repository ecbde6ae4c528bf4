"""The ns driver applies the settings it shows (issue 13 item 7): --cpus and --memory are a
cgroup holding the whole guest (dockerd, containerd, every container), and a foreign --arch is
refused with one line pointing at the qemu driver, saving nothing."""
import os
import time


def guest_cgroup_dirs(profiles):
    name = profiles.netns()
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # cgroup v2
        return {"cpu": "/sys/fs/cgroup/" + name, "memory": "/sys/fs/cgroup/" + name}
    return {"cpu": "/sys/fs/cgroup/cpu/" + name, "memory": "/sys/fs/cgroup/memory/" + name}


def pids_below(directory):
    pids = set()
    for root, _, files in os.walk(directory):
        if "cgroup.procs" in files:
            with open(os.path.join(root, "cgroup.procs")) as f:
                pids.update(int(p) for p in f.read().split())
    return pids


def cpu_stat(directory):
    with open(os.path.join(directory, "cpu.stat")) as f:
        return {k: int(v) for k, v in (line.split() for line in f)}


def cpu_seconds(pids):
    """User + system CPU time of `pids` (processes gone meanwhile count 0)."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def test_cpus_and_memory_limit_the_whole_guest(profiles):
    profiles.start("--cpus", "1", "--memory", "0.25")
    profiles.import_bb()
    d = lambda *a, **kw: profiles.docker("--context", "berth", *a, **kw)
    dirs = guest_cgroup_dirs(profiles)
    inside = pids_below(dirs["memory"])
    assert profiles.dockerd_pid() in inside
    assert {pid for pid, _ in profiles.guest_processes()} <= inside  # containerd, holder

    # A container holding 400 MB in a 256 MiB guest is OOM-killed.
    p = d("run", "--name", "hog", "bb", "sh", "-c",
          'x=$(head -c 400000000 /dev/zero | tr "\\0" a); echo survived ${#x}', check=False)
    assert p.returncode == 137 and b"survived" not in p.stdout, (p.returncode, p.stdout)
    # The same amount below the limit fits.
    p = d("run", "--rm", "bb", "sh", "-c",
          'x=$(head -c 20000000 /dev/zero | tr "\\0" a); echo survived ${#x}')
    assert p.stdout.decode().strip() == "survived 20000000"

    # Two busy loops in a 1-cpu guest: together they get at most one CPU.
    cid = d("run", "-d", "--name", "busy", "bb", "sh", "-c",
            "while :; do :; done & while :; do :; done").stdout.decode().strip()
    loops = pids_below(os.path.join(dirs["cpu"], cid))
    assert len(loops) == 2, loops
    periods = cpu_stat(dirs["cpu"])["nr_periods"]
    used, t0 = cpu_seconds(loops), time.monotonic()
    time.sleep(4)
    used, elapsed = cpu_seconds(loops) - used, time.monotonic() - t0
    print("\n2 busy loops with --cpus 1: %.2f CPU-seconds in %.2fs" % (used, elapsed))
    assert used <= 1.1 * elapsed
    assert cpu_stat(dirs["cpu"])["nr_periods"] > periods  # the group's quota is being enforced
    d("rm", "-f", "busy", "hog")

    profiles.berth("stop")
    left = [h for h in os.listdir("/sys/fs/cgroup")
            if os.path.exists(os.path.join("/sys/fs/cgroup", h, profiles.netns()))]
    assert not any(os.path.exists(x) for x in dirs.values()) and left == [], left


def test_foreign_arch_is_refused_on_ns(profiles):
    foreign = "aarch64" if os.uname().machine == "x86_64" else "x86_64"
    p = profiles.berth("start", "--vm-type", "ns", "--arch", foreign, check=False)
    assert p.returncode != 0
    err = p.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "--vm-type qemu" in err[0], err
    assert not os.path.exists(os.path.join(profiles.dir(), "berth.yaml"))
