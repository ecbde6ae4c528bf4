"""A prebuilt qemu guest image from image.url (issue 16): a qemu profile's first start, or
`berth image pull`, downloads the archive over HTTPS (a local server with a CA the test makes)
with progress lines, checks it against image.sha256, unpacks it and keeps it in the image cache
under sha256-<hex>, where a second profile with the same archive finds it without a request.
A wrong checksum, a 404, a body cut short, an archive tar cannot read or one without the image's
files gives one line naming the URL and leaves no folder in the cache; an http:// URL or a
missing checksum is refused when the settings are read, and nothing is saved. The image is a
stand-in (a small qcow2 from qemu-img, a kernel and an initrd of random bytes): the starts here
are --lazy, so nothing boots; booting a real image is the VM suite's job."""
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile

import pytest

from berth_harness import BERTH_BIN
from https_helpers import HttpsServer, Site, one_error_line


def sha(data):
    return hashlib.sha256(data).hexdigest()


def qcow2(path):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "64M"], check=True)
    with open(path, "rb") as f:
        return f.read()


def tar_of(members, compress=""):
    """A tar archive (mode "w" + compress) of {name: bytes}."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w" + (":" + compress if compress else "")) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def images():
    site = Site()  # the server's files; the fixture adds the image files and berth's env
    server = HttpsServer(site, "img")
    d = site.dir = server.dir
    site.url = server.url
    site.image = {"disk.qcow2": qcow2(os.path.join(d, "disk.qcow2")),
                  "vmlinuz": os.urandom(1024 * 1024), "initrd.img": os.urandom(2 * 1024 * 1024)}
    site.cache = os.path.join(d, "cache")
    site.home = os.path.join(d, "home")
    site.env = dict(os.environ, BERTH_HOME=site.home, BERTH_IMAGE_CACHE=site.cache,
                    SSL_CERT_FILE=server.ca, DOCKER_CONFIG=os.path.join(d, "dc"))
    for k in ("BERTH_GUEST_IMAGE", "BERTH_PROFILE", "DOCKER_HOST", "DOCKER_CONTEXT"):
        site.env.pop(k, None)
    yield site
    for name in os.listdir(site.home) if os.path.isdir(site.home) else []:
        if not name.startswith("_"):
            berth(site, "delete", "-f", name)
    server.close()


def serve(site, path, body):
    site.files[path] = body
    return site.url + path, sha(body)


def write_yaml(path, url, digest, extra=""):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, "w") as f:
        f.write(extra + "image:\n  url: %s\n" % url + ("  sha256: %s\n" % digest if digest else ""))


def template(site, url, digest):
    os.makedirs(site.home, mode=0o700, exist_ok=True)
    write_yaml(os.path.join(site.home, "_templates", "default.yaml"), url, digest)


def profile(site, name, url, digest):
    os.makedirs(site.home, mode=0o700, exist_ok=True)
    write_yaml(os.path.join(site.home, name, "berth.yaml"), url, digest, "vmType: qemu\n")


def berth(site, *args):
    return subprocess.run([BERTH_BIN] + list(args), env=site.env, capture_output=True, text=True,
                          timeout=120)


def cache_listing(site):
    return sorted(os.listdir(site.cache)) if os.path.isdir(site.cache) else []


def status(site, name):
    return json.loads(berth(site, "status", "--json", "-p", name).stdout)


def failed_download(p, url):
    """A start or pull that failed on the download: its last line is the one error, naming the
    URL; before it only the line announcing the download and progress lines."""
    assert p.returncode == 1, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert lines[0] == "berth: downloading the qemu guest image from %s (once: profiles with " \
                       "the same image.sha256 share it)" % url, p.stderr
    assert all(l.startswith("guest image: ") for l in lines[1:-1]), p.stderr
    assert lines[-1].startswith("berth: ") and url in lines[-1], p.stderr
    return lines[-1]


def test_first_start_downloads_then_a_second_profile_reuses_it(images):
    archive = tar_of(images.image)
    images.slow.add("/img/guest.tar")
    url, digest = serve(images, "/img/guest.tar", archive)
    images.moved = {"/moved/": "/img/"}  # through a redirect, as release downloads go
    profile(images, "one", images.url + "/moved/guest.tar", digest)
    p = berth(images, "start", "-p", "one", "--lazy")
    assert p.returncode == 0, p.stderr
    assert "berth: downloading the qemu guest image from %s/moved/guest.tar" % images.url in p.stderr
    mib = len(archive) / 1024 / 1024
    progress = re.findall(r"^guest image: ([\d.]+) MiB of %.1f MiB \((\d+)%%\), [\d.]+ MiB/s$"
                          % mib, p.stderr, re.M)
    assert len(progress) >= 2, p.stderr  # lines while it arrives, not just at the end
    assert progress[-1][1] == "100"
    assert [int(pct) for _, pct in progress] == sorted(int(pct) for _, pct in progress)
    folder = os.path.join(images.cache, "sha256-" + digest)
    assert cache_listing(images) == ["sha256-" + digest]  # no archive, no work folder left
    assert sorted(os.listdir(folder)) == sorted(images.image)
    for name, data in images.image.items():
        with open(os.path.join(folder, name), "rb") as f:
            assert f.read() == data, name
    s = status(images, "one")
    assert s["driver"] == "qemu"
    assert s["image"] == {"url": images.url + "/moved/guest.tar", "sha256": digest,
                          "folder": folder}

    # A second profile, its image.url from the template: the cache serves it, no request.
    images.requests.clear()
    template(images, url, digest)
    p = berth(images, "start", "-p", "two", "--vm-type", "qemu", "--lazy")
    assert p.returncode == 0, p.stderr
    assert "downloading" not in p.stderr and "guest image:" not in p.stderr, p.stderr
    assert images.requests == []
    assert status(images, "two")["image"]["folder"] == folder
    p = berth(images, "image", "pull", "-p", "two")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == folder and images.requests == []

    # A profile given its own folder (diskImage) does not use the URL: status does not show it.
    p = berth(images, "start", "-p", "three", "--vm-type", "qemu", "--lazy", "--disk-image",
              folder)
    assert p.returncode == 0, p.stderr
    assert status(images, "three")["image"] is None
    assert status(images, "two")["image"] is not None
    p = berth(images, "start", "-p", "four", "--vm-type", "ns", "--lazy")
    assert p.returncode == 0, p.stderr
    assert status(images, "four")["image"] is None  # an ns guest has no image
    assert images.requests == []


def test_a_compressed_archive_with_a_top_folder_is_pulled(images):
    archive = tar_of({"guest/" + k: v for k, v in images.image.items()}, compress="gz")
    url, digest = serve(images, "/guest.tar.gz", archive)
    template(images, url, digest)
    # Work folders of downloads whose berth was killed: the dead one's goes, a live one's stays.
    dead = 4194304 + 1  # above pid_max's ceiling: no process has it
    assert not os.path.exists("/proc/%d" % dead)
    live = ".download-%d-abc123" % os.getpid()
    for name in (".download-%d-xyz789" % dead, live):
        os.makedirs(os.path.join(images.cache, name, "image"))
    p = berth(images, "image", "pull")
    assert p.returncode == 0, p.stderr
    folder = os.path.join(images.cache, "sha256-" + digest)
    assert p.stdout.strip() == folder
    assert re.search(r"^guest image: [\d.]+ MiB of [\d.]+ MiB \(100%\), [\d.]+ MiB/s$", p.stderr,
                     re.M), p.stderr
    assert cache_listing(images) == sorted([live, "sha256-" + digest])
    assert sorted(os.listdir(folder)) == sorted(images.image)


def test_a_wrong_checksum_starts_nothing_and_keeps_nothing(images):
    url, _ = serve(images, "/guest.tar", tar_of(images.image))
    profile(images, "p", url, "0" * 64)
    line = failed_download(berth(images, "start", "-p", "p", "--lazy"), url)
    assert "sha256" in line and "0" * 64 in line and "nothing was kept" in line, line
    assert cache_listing(images) == []
    assert berth(images, "status", "-p", "p").returncode == 1  # nothing runs


def test_a_404_is_one_line_naming_the_url(images):
    url = images.url + "/missing.tar"
    template(images, url, "1" * 64)
    line = failed_download(berth(images, "image", "pull"), url)
    assert line == "berth: cannot download %s: 404 Not Found" % url, line
    assert cache_listing(images) == []


@pytest.mark.parametrize("case", ["truncated", "not a tar", "no kernel", "a link", "not qcow2"])
def test_a_bad_archive_leaves_nothing(images, case):
    members = dict(images.image)
    if case == "no kernel":
        del members["vmlinuz"]
    if case == "not qcow2":
        members["disk.qcow2"] = os.urandom(4096)
    body = os.urandom(512 * 1024) if case == "not a tar" else tar_of(members)
    if case == "a link":  # vmlinuz a symlink out of the image: not a file of the image
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as t:
            for name in ("disk.qcow2", "initrd.img"):
                info = tarfile.TarInfo(name)
                info.size = len(members[name])
                t.addfile(info, io.BytesIO(members[name]))
            link = tarfile.TarInfo("vmlinuz")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            t.addfile(link)
        body = out.getvalue()
    url, digest = serve(images, "/guest.tar", body)
    if case == "truncated":
        images.truncate.add("/guest.tar")
    template(images, url, digest)
    line = failed_download(berth(images, "image", "pull"), url)
    expected = {"truncated": "closed the connection in the middle",
                "not a tar": "is not a tar archive tar can read",
                "no kernel": "needs disk.qcow2, vmlinuz and initrd.img",
                "a link": "needs disk.qcow2, vmlinuz and initrd.img",
                "not qcow2": "its disk.qcow2 is not a qcow2 disk"}[case]
    assert expected in line, line
    assert cache_listing(images) == []  # neither the image nor its work folder


def test_bad_settings_are_refused_when_read_and_nothing_is_saved(images):
    cases = [("http://example.org/guest.tar", "a" * 64,
              "image.url must be an https:// URL, not 'http://example.org/guest.tar'"),
             ("https://example.org/guest.tar", None,
              "image.url needs image.sha256, the archive's checksum"),
             ("https://example.org/guest.tar", "ABC",
              "image.sha256 must be 64 lowercase hex digits (as sha256sum prints them), "
              "not 'ABC'")]
    for url, digest, message in cases:
        template(images, url, digest)
        p = berth(images, "start", "-p", "p", "--vm-type", "qemu", "--lazy")
        line = one_error_line(p)
        assert message in line and "_templates/default.yaml" in line, line
        assert not os.path.exists(os.path.join(images.home, "p"))  # no profile was made
    os.remove(os.path.join(images.home, "_templates", "default.yaml"))

    # `berth template` keeps no edit that sets an http:// URL: the file is as it was.
    editor = os.path.join(images.dir, "editor.sh")
    with open(editor, "w") as f:
        f.write("#!/bin/sh\nprintf 'image:\\n  url: http://example.org/g.tar\\n"
                "  sha256: %s\\n' > \"$1\"\n" % ("a" * 64))
    os.chmod(editor, 0o755)
    env = dict(images.env, EDITOR=editor, VISUAL=editor)
    p = subprocess.run([BERTH_BIN, "template"], env=env, capture_output=True, text=True)
    assert "image.url must be an https:// URL" in one_error_line(p)
    p = subprocess.run([BERTH_BIN, "template", "--print"], env=env, capture_output=True,
                       text=True)
    assert "http://" not in p.stdout and re.search(r'^  url: ""$', p.stdout, re.M), p.stdout
    assert images.requests == []
