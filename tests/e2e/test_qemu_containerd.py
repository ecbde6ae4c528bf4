"""The containerd runtime in a qemu guest (run by tests/ci/suites/90-vm-e2e.sh after
test_qemu_vm.py; TCG when there is no KVM). One lazy profile, one boot: the first `ctr` call
through the host's containerd.sock boots the guest; images are imported and listed through the
relay; `berth ctr` runs ctr in the guest over ssh with output and exit codes passed through;
docker.sock answers one clear line; delete leaves nothing running. Needs the guest image and root.
"""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from berth_harness import BERTH_BIN, DOCKER, run, short_tmpdir  # noqa: E402
from containerd_helpers import IMAGE, busybox_docker_archive  # noqa: E402

CTR = shutil.which("ctr") or "/usr/bin/ctr"


def berth(home, *args, timeout=900, check=True):
    return run([BERTH_BIN, *args], env=dict(os.environ, BERTH_HOME=home), check=check,
               timeout=timeout)


def mentioning(home):
    """pids of processes whose command line names `home` (QEMU, the ssh forward, the daemon)."""
    out = subprocess.run(["pgrep", "-f", re.escape(home + "/")], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture(scope="module")
def world():
    home = short_tmpdir("qemu-ctrd")
    os.chmod(home, 0o700)
    w = {"home": home, "sock": os.path.join(home, "default", "containerd.sock")}
    yield w
    berth(home, "delete", "-f", "--data", check=False, timeout=120)
    for pid in mentioning(home):
        os.kill(pid, 9)
    shutil.rmtree(home, ignore_errors=True)


def ctr(world, *args, timeout=600):
    return run([CTR, "--address", world["sock"], "--connect-timeout", "600s", *args],
               timeout=timeout)


def test_01_the_first_ctr_call_boots_the_lazy_guest(world):
    image = ["--disk-image", os.environ["BERTH_E2E_IMAGE"]] if os.environ.get("BERTH_E2E_IMAGE") else []
    berth(world["home"], "start", "--no-activate", "--vm-type", "qemu", "--runtime", "containerd",
          "--cpus", "2", "--memory", "2", "--lazy", *image)
    status = berth(world["home"], "status").stdout.decode()
    assert "runtime: containerd" in status and "containerd socket: " + world["sock"] in status, status
    assert "idle" in status, status
    t0 = time.monotonic()
    out = ctr(world, "version").stdout.decode()
    print("\nfirst ctr version (boots the guest): %.1fs" % (time.monotonic() - t0))
    assert "Server:" in out and "1.6" in out.split("Server:")[1], out
    t0 = time.monotonic()
    ctr(world, "version")
    print("ctr version through the relay, guest up: %.2fs" % (time.monotonic() - t0))
    # containerd (its own unit) is the engine; dockerd never started.
    out = berth(world["home"], "ssh", "--", "systemctl is-active containerd docker; "
                "pgrep -x dockerd || echo no-dockerd", check=False).stdout.decode().split()
    assert out == ["active", "inactive", "no-dockerd"], out


def test_02_images_import_and_list_through_the_relay(world):
    tarball = os.path.join(world["home"], "bb.tar")
    busybox_docker_archive(tarball)
    t0 = time.monotonic()
    ctr(world, "images", "import", tarball)
    print("\nctr images import of %d bytes: %.1fs" % (os.path.getsize(tarball),
                                                     time.monotonic() - t0))
    assert IMAGE in ctr(world, "images", "ls", "-q").stdout.decode().split()


def test_03_berth_ctr_passes_output_and_exit_codes(world):
    p = berth(world["home"], "ctr", "--", "run", "--rm", IMAGE, "t1", "echo", "ok")
    assert p.stdout == b"ok\n", p
    # Words reach ctr as given: the quote and the spaces are not the guest shell's.
    p = berth(world["home"], "ctr", "--", "run", "--rm", IMAGE, "t2", "sh", "-c",
              "echo \"it's $0\"; exit 7", check=False)
    assert (p.returncode, p.stdout) == (7, b"it's sh\n"), p


def test_04_docker_sock_answers_one_clear_line(world):
    env = dict(os.environ, DOCKER_HOST="unix://%s/default/docker.sock" % world["home"])
    env.pop("DOCKER_CONTEXT", None)
    p = run([DOCKER, "ps"], env=env, check=False)
    err = p.stderr.decode().strip()
    assert p.returncode == 1 and len(err.splitlines()) == 1, err
    assert "runs containerd, not the Docker engine" in err and "berth ctr" in err, err


def test_05_delete_leaves_nothing_running(world):
    berth(world["home"], "delete", "-f", "--data", timeout=180)
    assert mentioning(world["home"]) == []
    assert not os.path.exists(world["sock"])
