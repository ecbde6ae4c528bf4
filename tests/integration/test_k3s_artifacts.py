"""k3s release files: fetched over HTTPS from kubernetes.mirror (a local server with a CA the
test makes), verified against the release's sha256 file, kept in berth's cache; a wrong
checksum, a 404 or a body cut short gives one line and leaves no file; an offline folder
(BERTH_K3S_ARTIFACTS) is verified the same way. Real TLS, real sockets, loopback only."""
import hashlib
import os
import re
import subprocess

import pytest

from berth_harness import BERTH_BIN
from https_helpers import HttpsServer, Site, one_error_line

VERSION = "v1.29.6+k3s1"
ESCAPED = "v1.29.6%2Bk3s1"
BIN, IMAGES, SUMS = "k3s", "k3s-airgap-images-amd64.tar.gz", "sha256sum-amd64.txt"


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Release(Site):
    """The k3s release the test server serves: /rel/<version>/<file>, and /moved/... answered
    with a redirect there."""

    def __init__(self):
        super().__init__()
        self.files = {BIN: os.urandom(3 * 1024 * 1024), IMAGES: os.urandom(2 * 1024 * 1024)}
        self.sums = "".join("%s  %s\n" % (sha(v), k) for k, v in self.files.items())
        self.moved = {"/moved/": "/rel/"}

    def key(self, path):
        prefix = "/rel/%s/" % ESCAPED
        return path[len(prefix):] if path.startswith(prefix) else None

    def body(self, key):
        return self.sums.encode() if key == SUMS else self.files.get(key)


@pytest.fixture
def mirror():
    release = Release()
    server = HttpsServer(release, "k3s")
    d = release.dir = server.dir
    release.url = server.url
    release.env = dict(os.environ, BERTH_HOME=os.path.join(d, "home"),
                       BERTH_IMAGE_CACHE=os.path.join(d, "cache"), SSL_CERT_FILE=server.ca)
    release.env.pop("BERTH_K3S_ARTIFACTS", None)
    yield release
    server.close()


def profile(release, name, mirror_path="rel"):
    d = os.path.join(release.env["BERTH_HOME"], name)
    os.makedirs(d, mode=0o700, exist_ok=True)
    os.chmod(release.env["BERTH_HOME"], 0o700)
    with open(os.path.join(d, "berth.yaml"), "w") as f:
        f.write("vmType: ns\narch: x86_64\nkubernetes:\n  mirror: %s/%s\n"
                % (release.url, mirror_path))


def download(release, name, *args, env=None):
    return subprocess.run([BERTH_BIN, "kubernetes", "download", "-p", name] + list(args),
                          env=env or release.env, capture_output=True, text=True, timeout=120)


def cache_dir(release):
    return os.path.join(release.env["BERTH_IMAGE_CACHE"], "k3s", VERSION + "-x86_64")


def cache_listing(release):
    d = cache_dir(release)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_download_with_progress_then_a_second_profile_downloads_nothing(mirror):
    mirror.slow.add(IMAGES)
    profile(mirror, "one", mirror_path="moved")  # through a redirect, as GitHub's downloads go
    p = download(mirror, "one")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "k3s %s (x86_64): downloaded and verified in %s" % (
        VERSION, cache_dir(mirror))
    progress = re.findall(r"^%s: ([\d.]+) MiB of 2\.0 MiB \((\d+)%%\), ([\d.]+) MiB/s$"
                          % re.escape(IMAGES), p.stderr, re.M)
    assert len(progress) >= 2, p.stderr          # lines while it arrives, not just at the end
    assert progress[-1][:2] == ("2.0", "100")
    assert [int(pct) for _, pct, _ in progress] == sorted(int(pct) for _, pct, _ in progress)
    assert re.search(r"^k3s: 3\.0 MiB of 3\.0 MiB \(100%\), [\d.]+ MiB/s$", p.stderr, re.M)
    d = cache_dir(mirror)
    assert cache_listing(mirror) == sorted([BIN, IMAGES, SUMS])
    for name, data in mirror.files.items():
        with open(os.path.join(d, name), "rb") as f:
            assert f.read() == data
    assert os.stat(os.path.join(d, BIN)).st_mode & 0o777 == 0o755
    assert "/rel/%s/%s" % (ESCAPED, SUMS) in mirror.requests

    mirror.requests.clear()
    profile(mirror, "two")
    p = download(mirror, "two")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "k3s %s (x86_64): verified in %s" % (VERSION, d)
    assert mirror.requests == []  # the cache served it: nothing asked of the mirror


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(mirror):
    mirror.sums = mirror.sums.replace(sha(mirror.files[IMAGES]), "0" * 64)
    profile(mirror, "p")
    line = one_error_line(download(mirror, "p"))
    assert IMAGES in line and "sha256" in line and "0" * 64 in line, line
    assert "nothing was kept" in line, line
    assert IMAGES not in cache_listing(mirror) and SUMS not in cache_listing(mirror)
    assert not [n for n in cache_listing(mirror) if ".part" in n]


def test_a_404_is_one_line_naming_the_url(mirror):
    profile(mirror, "p")
    line = one_error_line(download(mirror, "p", "--version", "v9.9.9+k3s9"))
    assert "404 Not Found" in line and "v9.9.9%2Bk3s9/" + SUMS in line, line
    assert not os.path.exists(os.path.join(mirror.env["BERTH_IMAGE_CACHE"], "k3s",
                                           "v9.9.9+k3s9-x86_64", SUMS))


def test_a_body_cut_short_leaves_no_file(mirror):
    mirror.truncate.add(BIN)
    profile(mirror, "p")
    line = one_error_line(download(mirror, "p"))
    assert "/" + BIN in line and "closed the connection in the middle" in line, line
    assert cache_listing(mirror) == []  # neither the part nor the sha256 file


def test_a_server_the_system_roots_do_not_trust_is_refused(mirror):
    profile(mirror, "p")
    env = dict(mirror.env)
    env.pop("SSL_CERT_FILE")
    env["SSL_CERT_DIR"] = mirror.dir  # no CA there: nothing vouches for the test server
    env["SSL_CERT_FILE"] = "/nonexistent"
    line = one_error_line(download(mirror, "p", env=env))
    assert "TLS handshake failed" in line and "certificate" in line, line
    assert mirror.requests == []


def test_offline_folder_is_verified_the_same_way(mirror):
    offline = os.path.join(mirror.dir, "offline")
    os.makedirs(offline)
    for name, data in mirror.files.items():
        with open(os.path.join(offline, name), "wb") as f:
            f.write(data)
    with open(os.path.join(offline, SUMS), "w") as f:
        f.write(mirror.sums)
    profile(mirror, "p")
    env = dict(mirror.env, BERTH_K3S_ARTIFACTS=offline)
    p = download(mirror, "p", env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "k3s %s (x86_64): verified in %s" % (VERSION, offline)
    assert mirror.requests == []

    with open(os.path.join(offline, IMAGES), "r+b") as f:
        f.write(b"tampered")
    line = one_error_line(download(mirror, "p", env=env))
    assert IMAGES in line and "sha256" in line and "BERTH_K3S_ARTIFACTS" in line, line

    os.remove(os.path.join(offline, SUMS))
    line = one_error_line(download(mirror, "p", env=env))
    assert "has no " + SUMS in line and "BERTH_K3S_ARTIFACTS" in line, line
    assert mirror.requests == []
