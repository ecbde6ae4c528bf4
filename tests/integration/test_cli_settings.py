"""Settings through the berth CLI (issue 13, items 8-10), ns driver and real dockerd: values are
checked before anything is saved, `berth start --edit` repairs a broken berth.yaml and keeps only
an edit that validates, and `berth mount add|remove|list` changes a profile's shares without
losing the others -- the command the unshared-path error now gives."""
import os
import stat

from test_profiles_errors import one_line
from profiles_helpers import live_processes_mentioning


def read(path):
    with open(path, "rb") as f:
        return f.read()


def editor_script(home, name, body):
    """An $EDITOR that runs `body` (sh) on the file it is given as $1, and leaves a mark."""
    path = os.path.join(home, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\ntouch \"$1.edited\"\n" + body + "\n")
    os.chmod(path, stat.S_IRWXU)
    return path


def not_running(profiles, profile="default"):
    """No daemon (pid file, control socket) and no guest process of the profile."""
    d = profiles.dir(profile)
    return (not os.path.exists(os.path.join(d, "daemon.pid")) and
            not os.path.exists(os.path.join(d, "control.sock")) and
            live_processes_mentioning(d + "/") == [])


def test_bad_values_are_refused_before_anything_is_saved(profiles):
    profiles.start("--lazy")
    profiles.berth("stop")
    config = os.path.join(profiles.dir(), "berth.yaml")
    before = read(config)
    for flags, words in ((["--mount", "/nonexistent/share"], "/nonexistent/share"),
                         (["--mount", "/nonexistent/share:/x:w", "--cpus", "3"], "/nonexistent"),
                         (["--listen", "http://x"], "http://x"),
                         # Not built yet: refused, never saved and shown as if in force.
                         (["--kubernetes"], "kubernetes is not available"),
                         (["-k", "--kubernetes-version", "v1.29.1+k3s1"], "kubernetes"),
                         (["--kubernetes-version", "v1.29.1+k3s1"], "kubernetes")):
        p = profiles.berth("start", *flags, check=False)
        assert p.returncode == 1, p.stderr
        line = one_line(p)
        assert words in line and "nothing was saved" in line, line
        assert read(config) == before, flags  # byte-identical
        assert not_running(profiles), flags  # nothing booted, no daemon
    # A new profile refused the same way leaves no folder behind.
    p = profiles.berth("start", "--vm-type", "ns", "-p", "fresh", "--mount", "/nonexistent/x",
                       check=False)
    assert p.returncode == 1 and "/nonexistent/x" in one_line(p)
    assert not os.path.exists(profiles.dir("fresh"))


def test_edit_opens_a_broken_berth_yaml_and_keeps_only_a_valid_edit(profiles):
    profiles.start("--lazy")
    profiles.berth("stop")
    config = os.path.join(profiles.dir(), "berth.yaml")
    broken = b"cpus: 2\nmemory: [\n"
    with open(config, "wb") as f:
        f.write(broken)
    assert profiles.berth("start", check=False).returncode == 1  # without --edit: refused
    # A bad edit of the broken file is not kept: the file is as it was.
    bad = editor_script(profiles.home, "bad-edit", "printf 'cpus: 0\\nvmType: ns\\n' > \"$1\"")
    p = profiles.berth("start", "--edit", check=False, env=dict(profiles.env, EDITOR=bad))
    assert os.path.exists(config + ".edited"), "the editor was not opened"
    assert p.returncode == 1
    line = one_line(p)
    assert "cpus" in line and "not kept" in line, line
    assert read(config) == broken
    assert not_running(profiles)
    # A good edit repairs it, and the profile starts with it.
    good = editor_script(profiles.home, "good-edit",
                         "printf 'cpus: 3\\nvmType: ns\\nboot: {lazy: true}\\n' > \"$1\"")
    profiles.berth("start", "--edit", env=dict(profiles.env, EDITOR=good))
    s = profiles.status()
    assert s["cpus"] == 3 and s["daemon"]["running"], s
    profiles.berth("stop")
    # A bad edit of a valid file leaves the valid file, byte for byte.
    before = read(config)
    p = profiles.berth("start", "--edit", check=False, env=dict(profiles.env, EDITOR=bad))
    assert p.returncode == 1 and "not kept" in one_line(p)
    assert read(config) == before


def test_mount_add_keeps_the_current_shares(profiles):
    base = os.path.join(profiles.home, "sh")
    a, b, c = (os.path.join(base, n) for n in ("a", "b", "c"))
    for d in (a, b, c):
        os.makedirs(d)
        with open(os.path.join(d, "f"), "w") as f:
            f.write(os.path.basename(d) + "\n")
    profiles.start("--mount", a + ":w")
    profiles.import_bb()
    dk = lambda *args, **kw: profiles.docker("--context", "berth", *args, **kw)
    # The unshared-path error gives a command that keeps the current shares.
    p = dk("run", "--rm", "-v", c + ":/c", "bb", "cat", "/c/f", check=False)
    assert p.returncode != 0
    err = p.stderr.decode()
    assert "berth mount add %s:w" % c in err and "berth restart" in err, err
    profiles.berth("mount", "add", c + ":w")
    profiles.berth("mount", "add", b)
    listed = profiles.berth("mount", "list").stdout.decode().splitlines()
    assert listed[0].split() == ["LOCATION", "MOUNTPOINT", "MODE"]
    assert [l.split() for l in listed[1:]] == [[a, a, "rw"], [c, c, "rw"], [b, b, "ro"]], listed
    # Applied at the next start: the running guest keeps its shares until then.
    assert "berth restart" in profiles.berth("mount", "list").stderr.decode()
    profiles.berth("restart")
    for d, name in ((a, "a"), (b, "b"), (c, "c")):
        out = dk("run", "--rm", "-v", d + ":/m:ro", "bb", "cat", "/m/f").stdout.decode()
        assert out == name + "\n"
    p = dk("run", "--rm", "-v", b + ":/m", "bb", "true", check=False)
    assert p.returncode != 0  # b was added read-only
    # remove drops one share and keeps the others; an unknown path is refused with one line.
    profiles.berth("mount", "remove", b)
    listed = profiles.berth("mount", "list").stdout.decode()
    assert b not in listed and a in listed and c in listed
    p = profiles.berth("mount", "remove", b, check=False)
    assert p.returncode == 1 and "is not shared" in one_line(p)
    p = profiles.berth("mount", "add", os.path.join(base, "missing"), check=False)
    assert p.returncode == 1 and "missing" in one_line(p)


def test_unshared_path_hint_names_the_profile(profiles):
    """The hint is a command for the profile the client talks to: following it as printed
    (`berth mount add -p dev ...`, `berth restart dev`) shares the folder."""
    a, c = (os.path.join(profiles.home, n) for n in ("ha", "hc"))
    for d in (a, c):
        os.makedirs(d)
    with open(os.path.join(c, "f"), "w") as f:
        f.write("c\n")
    profiles.start("--mount", a + ":w", profile="dev")
    profiles.import_bb("dev")
    dk = lambda *args, **kw: profiles.docker("--context", "berth-dev", *args, **kw)
    p = dk("run", "--rm", "-v", c + ":/c", "bb", "cat", "/c/f", check=False)
    assert p.returncode != 0
    err = p.stderr.decode()
    hint = "share it with berth mount add -p dev %s:w, then berth restart dev (" % c
    assert hint in err and "PROFILE" not in err, err
    add = err.split("share it with ")[1].split(", then ")[0].split()
    restart = err.split(", then ")[1].split(" (")[0].split()
    assert add[:4] == ["berth", "mount", "add", "-p"] and restart == ["berth", "restart", "dev"]
    profiles.berth(*add[1:])
    profiles.berth(*restart[1:])
    assert dk("run", "--rm", "-v", c + ":/c:ro", "bb", "cat", "/c/f").stdout == b"c\n"


def test_start_mount_says_which_shares_it_replaced(profiles):
    a, b = (os.path.join(profiles.home, n) for n in ("a", "b"))
    for d in (a, b):
        os.makedirs(d)
    profiles.start("--lazy", "--mount", a)
    profiles.berth("stop")
    err = profiles.start("--lazy", "--mount", b).stderr.decode()
    assert "--mount replaced the profile's shares; no longer shared: " + a in err, err
    assert "berth mount add" in err
    assert [m["location"] for m in profiles.status()["mounts"]] == [b]
