"""`berth image build` and a qemu profile's first start without an image (issue 16): the start
runs berth's image recipe itself, in the terminal, instead of failing with a command to run by
hand; a recipe that fails stops the start with one line and leaves nothing running; building
needs root and says so. The recipe here is a stand-in script (BERTH_GUEST_RECIPE): the real one
(debootstrap, ~6-10 min) runs in the VM suite (tests/ci/suites/90-vm-e2e.sh, via berth image build)."""
import os
import stat
import subprocess

from profiles_helpers import BERTH_BIN
from test_profiles_errors import one_line


def fake_recipe(tmp_path, body):
    script = tmp_path / "build-image.sh"
    script.write_text("#!/bin/bash\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_first_qemu_start_runs_the_recipe_and_a_failed_build_starts_nothing(profiles, tmp_path):
    seen = tmp_path / "args"
    recipe = fake_recipe(tmp_path, f'echo "$@" > {seen}\necho "build-image: [0s] pretend step" >&2\nexit 3\n')
    env = dict(profiles.env, BERTH_GUEST_RECIPE=recipe, BERTH_IMAGE_CACHE=str(tmp_path / "cache"))
    env.pop("BERTH_GUEST_IMAGE", None)
    p = profiles.berth("start", "-p", "img", "--vm-type", "qemu", env=env, check=False)
    err = p.stderr.decode()
    assert p.returncode == 1, err
    assert "no qemu guest image in " + str(tmp_path / "cache") + " yet: building one now" in err
    assert "build-image: [0s] pretend step" in err  # the recipe's progress reaches the terminal
    last = err.strip().splitlines()[-1]
    assert last.startswith("berth: the guest image was not built: ") and "exited with status 3" in last
    assert seen.read_text().split() == ["--cache-dir", str(tmp_path / "cache")]
    status = profiles.berth("status", "img", env=env, check=False)
    assert status.returncode == 1  # nothing runs


def test_image_build_passes_its_flags_and_needs_root(profiles, tmp_path):
    seen = tmp_path / "args"
    recipe = fake_recipe(tmp_path, f'echo "$@" > {seen}\necho /cache/dir\n')
    env = dict(profiles.env, BERTH_GUEST_RECIPE=recipe, BERTH_IMAGE_CACHE=str(tmp_path / "c"))
    p = profiles.berth("image", "build", "--force", "--mirror", "http://m.example/debian", env=env)
    assert p.stdout.decode().strip() == "/cache/dir"
    assert seen.read_text().split() == ["--cache-dir", str(tmp_path / "c"), "--force",
                                        "--mirror", "http://m.example/debian"]
    os.chmod(tmp_path, 0o755)
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        BERTH_BIN, "image", "build"], env=dict(env, HOME="/tmp"),
                       capture_output=True)
    assert p.returncode == 1
    assert one_line(p) == "berth: building the guest image needs root (debootstrap, chroot): sudo berth image build"


def test_the_recipe_installs_its_missing_tools_with_apt_get(tmp_path):
    """build-image.sh asks apt-get for the packages of the tools it cannot find (here
    debootstrap and mkfs.ext4 are kept off PATH; qemu-img stays) and stops with one line when
    that install fails; it builds nothing then. apt-get is a stand-in that records its calls."""
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "apt-calls"
    (fake / "apt-get").write_text(f'#!/bin/bash\necho "$@" >> {calls}\n[ "$1" = update ]\n')
    (fake / "apt-get").chmod(0o755)
    recipe = os.path.join(os.path.dirname(__file__), "../../contrib/guest/build-image.sh")
    env = dict(os.environ, PATH=f"{fake}:/usr/bin:/bin", BERTH_IMAGE_CACHE=str(tmp_path / "c"))
    assert os.path.exists("/usr/bin/qemu-img") and not os.path.exists("/usr/bin/debootstrap")
    p = subprocess.run(["bash", recipe, "--force"], env=env, capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    assert "build-image: installing debootstrap e2fsprogs (apt-get)" in p.stderr
    assert p.stderr.strip().splitlines()[-1] == \
        "build-image: apt-get install debootstrap e2fsprogs failed (output above)"
    assert calls.read_text().splitlines() == [
        "update -qq", "install -y -qq --no-install-recommends debootstrap e2fsprogs"]
    assert not (tmp_path / "c").exists()  # nothing built, no cache folder made
