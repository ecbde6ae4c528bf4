"""pytest fixtures shared by every integration test (see berth_harness.py for the classes).

- `engine`  (session): a real dockerd in its own netns with image `bb`; `.sock`,
            `.guest_addr` (non-loopback veth address), `.host_addr`, `.docker(...)` (direct).
- `berth`   (session): `berth daemon --debug` relaying to `engine`; `.docker(...)`,
            `.compose(...)`, `.client()` (docker-py), `.env()`, `.log_text()`, `.rss_kib()`.
- `dclient` (session): a docker-py client through `berth`.
- `tmp_short`: a short temp dir (unix socket paths), removed afterwards.
"""
import glob
import os
import shutil

import pytest

from berth_harness import BERTH_BIN, HARNESS, Berth, Engine, run, short_tmpdir

STATE_DIR = "/run/berth-harness"


def _reap_stale_engines():
    """Engines named bt-<pid> whose pytest is gone (a crashed or killed run)."""
    for path in glob.glob(os.path.join(STATE_DIR, "bt-*")):
        name = os.path.basename(path)
        try:
            pid = int(name.split("-", 1)[1])
        except ValueError:
            continue
        if not os.path.exists("/proc/%d" % pid):
            run(["bash", HARNESS, "stop", name], check=False, timeout=120)


@pytest.fixture(scope="session")
def engine():
    if not os.access(BERTH_BIN, os.X_OK):
        pytest.fail("berth binary not found at %s (build first or set BERTH_BIN)" % BERTH_BIN)
    _reap_stale_engines()
    name = os.environ.get("BERTH_TEST_NETNS", "bt-%d" % os.getpid())
    e = Engine(name, short_tmpdir(name))
    e.start()
    yield e
    e.stop()
    shutil.rmtree(e.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def berth(engine):
    b = Berth(engine.url).start()
    yield b
    code = b.stop()
    b.cleanup()
    assert code == 0, "berth daemon exited %s on SIGTERM" % code


@pytest.fixture(scope="session")
def dclient(berth):
    c = berth.client(timeout=120)
    yield c
    c.close()


@pytest.fixture
def tmp_short():
    d = short_tmpdir("t")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def profiles():
    """A temp BERTH_HOME + DOCKER_CONFIG for berth profile tests (profiles_helpers.Profiles);
    every profile in it is stopped afterwards."""
    from profiles_helpers import Profiles
    p = Profiles()
    yield p
    p.cleanup()
