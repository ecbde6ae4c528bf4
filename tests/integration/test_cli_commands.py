"""The berth command line (issue 13, items 11-14), ns driver and real dockerd: unknown commands
get the nearest one, `berth ssh PROFILE -- CMD ARGS` and `berth version PROFILE`, deleting data
kept by an earlier delete, the docker context after deleting the current one, and `berth list`
keeping its columns aligned whatever the values."""
import json
import os

from test_profiles_errors import one_line


def test_unknown_command_names_the_nearest(profiles):
    p = profiles.berth("statsu", check=False)
    assert p.returncode == 1
    assert one_line(p) == 'berth: unknown command "statsu"; did you mean "status"?'
    p = profiles.berth("delet", "-f", check=False)
    assert p.returncode == 1 and 'did you mean "delete"?' in one_line(p)
    p = profiles.berth("frobnicate", check=False)
    assert p.returncode == 1 and 'unknown command "frobnicate"' in one_line(p)
    assert os.listdir(profiles.home) == []


def test_command_groups_name_the_word_and_the_choices(profiles):
    """A group's unknown or missing command is named with the group and what it offers,
    not CLI11's "A subcommand is required"."""
    cases = [
        (["kubernetes", "start"],
         'berth: unknown command "kubernetes start" (kubernetes commands: download)'),
        (["kubernetes", "downlod"],
         'berth: unknown command "kubernetes downlod"; did you mean "kubernetes download"?'),
        (["kubernetes"], "berth: which command? download (see berth kubernetes --help)"),
        (["service"], "berth: which command? install, remove, unit (see berth service --help)"),
        (["service", "unit"], "berth: kind is required (see berth service unit --help)"),
        ([], "berth: which command? (see berth --help)"),
    ]
    for args, line in cases:
        p = profiles.berth(*args, check=False)
        assert (p.returncode, one_line(p)) == (1, line), args
    assert os.listdir(profiles.home) == []


def test_every_command_names_a_missing_profile_in_one_line(profiles):
    """Each command that needs an existing profile refuses a missing one with the same line,
    which says where to see the profiles and how to create this one, and writes nothing."""
    line = ("berth: profile 'nosuch' does not exist (berth list shows the profiles; "
            "berth start nosuch creates it)")
    for args in (["status"], ["stop"], ["delete", "-f"], ["restart"], ["ssh"], ["ssh-config"],
                 ["dashboard", "--no-open"], ["update"], ["mount", "add", "/tmp"],
                 ["mount", "ls"]):
        p = profiles.berth(*args, "-p", "nosuch", check=False)
        assert (p.returncode, one_line(p)) == (1, line), args
    for args in (["ctr", "-p", "nosuch", "--", "version"], ["ctr", "nosuch", "--", "version"],
                 ["ssh", "nosuch", "--", "true"]):
        p = profiles.berth(*args, check=False)
        assert (p.returncode, one_line(p)) == (1, line), args
    p = profiles.berth("image", "pull", "-p", "nosuch", check=False)
    assert p.returncode == 1 and one_line(p).startswith(
        "berth: profile 'nosuch' does not exist yet and the template has no image.url"), one_line(p)
    assert os.listdir(profiles.home) == []


def test_ssh_and_version_take_the_profile_as_argument(profiles):
    profiles.start(profile="sshp")
    out = profiles.berth("ssh", "sshp", "--", "printf", "%s,", "one", "two", "three").stdout
    assert out.decode() == "one,two,three,"
    env = dict(profiles.env, BERTH_PROFILE="sshp")
    out = profiles.berth("ssh", "--", "echo", "first", "second", env=env).stdout
    assert out.decode() == "first second\n"
    p = profiles.berth("ssh", "nosuch", "--", "true", check=False)
    assert p.returncode == 1 and "'nosuch' does not exist" in one_line(p)
    version = profiles.berth("version", "sshp").stdout.decode()
    assert "profile: sshp" in version and "engine: " in version, version
    # ssh-config names its profile the same way (it is for qemu guests: this one is ns).
    p = profiles.berth("ssh-config", "sshp", check=False)
    assert p.returncode == 1 and one_line(p) == (
        "berth: berth ssh-config is for qemu profiles; use berth ssh for this ns one")
    p = profiles.berth("status", "--", "x", check=False)
    assert p.returncode == 1 and "takes no command after --" in one_line(p)


def test_delete_data_removes_what_an_earlier_delete_kept(profiles):
    profiles.start(profile="keep")  # booted: the engine has made its data
    profiles.berth("delete", "-f", "keep")
    assert os.path.isdir(os.path.join(profiles.dir("keep"), "guest", "data"))
    assert "keep" not in profiles.berth("list").stdout.decode()
    rows = [l.split() for l in profiles.berth("list", "--all").stdout.decode().splitlines()]
    assert ["keep", "Deleted"] in rows, rows
    listed = [json.loads(l) for l in profiles.berth("list", "--all", "--json").stdout.splitlines()]
    assert [r["status"] for r in listed if r["name"] == "keep"] == ["Deleted"]
    p = profiles.berth("delete", "-f", "keep", check=False)
    assert p.returncode == 1 and "berth delete --data keep" in one_line(p)
    p = profiles.berth("delete", "-f", "--data", "keep")
    assert "deleted the container data kept from profile 'keep'" in one_line(p)
    assert not os.path.exists(profiles.dir("keep"))
    assert "keep" not in profiles.berth("list", "--all").stdout.decode()


def test_deleting_the_current_context_says_which_is_current(profiles):
    profiles.start("--lazy", profile="ctx")
    assert profiles.docker("context", "show").stdout.decode().strip() == "berth-ctx"
    err = profiles.berth("delete", "-f", "ctx").stderr.decode()
    assert 'docker context "berth-ctx" was the current one; the current context is now "default"' \
        in err, err
    assert profiles.docker("context", "show").stdout.decode().strip() == "default"
    # Deleting a profile whose context is not current says nothing about contexts.
    profiles.start("--lazy", "--no-activate", profile="other")
    assert "context" not in profiles.berth("delete", "-f", "other").stderr.decode()


def test_list_keeps_columns_aligned(profiles):
    long_name = "a" * 31
    profiles.start(profile=long_name)  # booted: it has a guest address
    os.makedirs(profiles.dir("ctr"))
    with open(os.path.join(profiles.dir("ctr"), "berth.yaml"), "w") as f:
        f.write("vmType: ns\nruntime: docker\ncpus: 1024\nmemory: 1234.5\ndisk: 99999\n")
    lines = profiles.berth("list").stdout.decode().splitlines()
    header = lines[0]
    names = header.split()
    assert names == ["PROFILE", "STATUS", "ARCH", "CPUS", "MEMORY", "DISK", "RUNTIME", "ADDRESS"]
    starts = [header.index(n) for n in names]
    rows = {}
    for line in lines[1:]:
        line = line.ljust(len(header))  # the last cell may be empty
        cells = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(line)
            if i > 0:
                assert line[start - 1] == " ", (line, header)
            cells.append(line[start:end].strip())
        rows[cells[0]] = cells
    address = profiles.status(long_name)["address"]
    assert address
    assert rows[long_name][1] == "Running" and rows[long_name][7] == address, rows
    # An ns guest has no disk size in force (its data is on the host's file system): "-".
    assert rows["ctr"][1:8] == ["Stopped", rows["ctr"][2], "1024", "1234.5GiB", "-",
                                "docker", ""], rows
