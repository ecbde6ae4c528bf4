"""`berth completion bash|zsh|fish` and `berth man`, generated from the CLI's own definition:
bash's completion function (sourced, driven through COMP_WORDS/COMP_CWORD like bash does) and
fish's `complete -C` return the right words -- subcommands, options, the fixed value sets the
parser accepts, and the profile names `berth list --json` reports; the man page renders with
no groff warning and names every command and option `--help` shows."""
import os
import re
import shutil
import subprocess

import pytest

from berth_harness import BERTH_BIN, run as run_bytes


def run(cmd, **kw):
    return run_bytes(cmd, text=True, **kw)


def script(shell):
    return run([BERTH_BIN, "completion", shell]).stdout


def bash_complete(profiles, words, cword=None):
    """COMPREPLY of the generated bash function for the command line `words` (the last word
    is the one under the cursor unless `cword` says otherwise)."""
    path = os.path.join(profiles.home, "berth.bash")
    with open(path, "w") as f:
        f.write(script("bash"))
    cword = len(words) if cword is None else cword
    words = [BERTH_BIN] + words
    quoted = " ".join("'%s'" % w for w in words)
    prog = ('source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _berth; printf "%%s\\n" "${COMPREPLY[@]}"'
            % (path, quoted, cword))
    p = run(["bash", "--norc", "-c", prog], env=profiles.env)
    return sorted(w for w in p.stdout.split("\n") if w)


def help_commands():
    """The commands `berth --help` lists (the parser's own view)."""
    out = run([BERTH_BIN, "--help"]).stdout
    section = out.split("Subcommands:", 1)[1]
    return {line.split()[0].rstrip(",") for line in section.splitlines() if line.strip()}


def help_options(*command):
    out = run([BERTH_BIN, *command, "--help"]).stdout
    return set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", out.split("Options:", 1)[-1]))


@pytest.fixture
def two_profiles(profiles):
    for name in ("alpha", "beta"):
        profiles.start("--lazy", profile=name)
        profiles.berth("stop", "-p", name)
    return profiles


def test_bash_completes_commands_options_and_fixed_values(profiles):
    top = bash_complete(profiles, [""])
    assert help_commands() <= set(top), top
    assert "ls" in top  # aliases too
    assert bash_complete(profiles, ["st"]) == ["start", "status", "stop"]
    assert bash_complete(profiles, ["start", "--vm"]) == ["--vm-type"]
    assert bash_complete(profiles, ["mount", ""]) == ["add", "list", "ls", "remove", "rm"]
    assert bash_complete(profiles, ["mount", "rm", "-"]) == ["--help", "--profile", "-h", "-p"]
    assert bash_complete(profiles, ["ls", "--"]) == ["--all", "--help", "--json"]
    assert set(bash_complete(profiles, ["start", "-"])) == help_options("start")
    for flag, values in [("--vm-type", ["ns", "qemu"]), ("--runtime", ["containerd", "docker"]),
                         ("--mount-type", ["9p", "virtiofs"]), ("--arch", ["aarch64", "x86_64"])]:
        assert bash_complete(profiles, ["start", flag, ""]) == values, flag
        # --flag=VALUE: bash splits the word at '=', with the cursor on '=' or after it
        assert bash_complete(profiles, ["start", flag, "="]) == values, flag
        assert bash_complete(profiles, ["start", flag, "=", values[0][:1]]) == [values[0]], flag
    assert bash_complete(profiles, ["completion", ""]) == ["bash", "fish", "zsh"]
    assert bash_complete(profiles, ["ssh", "--", ""]) == []


def test_offered_values_are_the_ones_the_parser_accepts(profiles):
    offered = bash_complete(profiles, ["start", "--runtime", ""])
    p = profiles.berth("start", "-p", "vals", "--runtime", "bogus", check=False)
    assert p.returncode == 1
    line = p.stderr.decode().strip()
    assert "--runtime" in line and "bogus" in line, line
    for value in offered:
        assert value in line, (value, line)
    assert not os.path.exists(profiles.dir("vals"))
    p = run([BERTH_BIN, "completion", "tcsh"], check=False)
    assert p.returncode == 1 and "bash, zsh or fish" in p.stderr


def test_bash_completes_profile_names_from_berth_list(two_profiles):
    profiles = two_profiles
    assert bash_complete(profiles, ["stop", ""]) == ["alpha", "beta"]
    assert bash_complete(profiles, ["status", "-p", ""]) == ["alpha", "beta"]
    assert bash_complete(profiles, ["start", "--cpus", "2", "a"]) == ["alpha"]
    assert bash_complete(profiles, ["mount", "add", "--profile", "b"]) == ["beta"]
    # one positional only: after the profile nothing more is offered
    assert bash_complete(profiles, ["stop", "alpha", ""]) == []


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_through_complete_c(two_profiles):
    profiles = two_profiles
    path = os.path.join(profiles.home, "berth.fish")
    with open(path, "w") as f:
        f.write(script("fish"))
    # The script runs the `berth` the command line names: put BERTH_BIN on PATH by that name
    # (a copied binary may be called otherwise).
    bindir = os.path.join(profiles.home, "bin")
    os.makedirs(bindir)
    os.symlink(BERTH_BIN, os.path.join(bindir, "berth"))
    env = dict(profiles.env, PATH=bindir + ":" + os.environ["PATH"])

    def words(line):
        p = run(["fish", "--no-config", "-c", "source %s; complete -C%s" % (path, "'" + line + "'")],
                env=env)
        return sorted(w.split("\t")[0] for w in p.stdout.splitlines() if w)

    assert words("berth st") == ["start", "status", "stop"]
    assert words("berth start --vm-type ") == ["ns", "qemu"]
    assert words("berth mount r") == ["remove", "rm"]
    assert words("berth stop ") == ["alpha", "beta"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_loads_and_defines_every_command_function(profiles):
    path = os.path.join(profiles.home, "_berth")
    with open(path, "w") as f:
        f.write(script("zsh"))
    run(["zsh", "-n", path])
    prog = ("autoload -U compinit && compinit -u -d %s/zcd && source %s && "
            "print -l ${(k)functions[(I)_berth*]}" % (profiles.home, path))
    p = run(["zsh", "-f", "-c", prog], env=profiles.env)
    functions = set(p.stdout.split())
    for command in help_commands():
        assert "_berth_" + command.replace("-", "_") in functions, command
    assert "_berth_mount_add" in functions


def test_man_page_renders_without_warnings_and_names_every_option(tmp_short):
    page = os.path.join(tmp_short, "berth.1")
    with open(page, "w") as f:
        f.write(run([BERTH_BIN, "man"]).stdout)
    p = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", page], capture_output=True,
                       text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    env = dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING="0")
    text = run(["man", "-l", page], env=env).stdout
    text = re.sub(r".\x08", "", text)
    assert text.startswith("BERTH(1)")
    for command in help_commands():
        assert "berth " + command in text, command
        for option in help_options(command) - {"-h", "--help"}:
            assert option in text, (command, option)
    assert "x86_64|aarch64" in text and "qemu|ns" in text
