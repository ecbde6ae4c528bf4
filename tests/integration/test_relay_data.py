"""Big bodies and hijacked streams through berth: stdin, docker cp, save|load, classic build."""
import hashlib
import os
import subprocess
import uuid

from berth_harness import DOCKER

MIB = 1024 * 1024


def uid(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def random_file(path, size):
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, MIB))
            f.write(block)
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            h.update(block)
    return h.hexdigest()


def test_run_stdin_64mib_checksum(berth, tmp_short):
    src = os.path.join(tmp_short, "in.bin")
    want = random_file(src, 64 * MIB)
    with open(src, "rb") as f:
        p = subprocess.run([DOCKER, "run", "-i", "--rm", "bb", "cat"], stdin=f,
                           capture_output=True, env=berth.env(), timeout=300)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout) == 64 * MIB
    assert hashlib.sha256(p.stdout).hexdigest() == want


def test_cp_64mib_both_ways(berth, tmp_short):
    name = uid("cp")
    src = os.path.join(tmp_short, "up.bin")
    want = random_file(src, 64 * MIB)
    berth.docker("run", "-d", "--name", name, "bb", "sleep", "600")
    try:
        berth.docker("cp", src, name + ":/tmp/up.bin")
        inside = berth.docker("exec", name, "sha256sum", "/tmp/up.bin").stdout.split()[0]
        assert inside.decode() == want
        back = os.path.join(tmp_short, "back.bin")
        berth.docker("cp", name + ":/tmp/up.bin", back)
        assert sha256_of(back) == want
    finally:
        berth.docker("rm", "-f", name, check=False)


def test_save_load_round_trip(berth, tmp_short):
    tag = "bb-saved:" + uuid.uuid4().hex[:6]
    berth.docker("tag", "bb", tag)
    tar = os.path.join(tmp_short, "img.tar")
    berth.docker("save", "-o", tar, tag)
    assert os.path.getsize(tar) > MIB
    image_id = berth.docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
    berth.docker("rmi", tag)
    assert berth.docker("image", "inspect", tag, check=False).returncode != 0
    p = berth.docker("load", "-i", tar)
    assert b"Loaded image: " + tag.encode() in p.stdout
    assert berth.docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip() == image_id
    assert berth.docker("run", "--rm", tag, "echo", "loaded").stdout == b"loaded\n"
    berth.docker("rmi", tag)


def test_classic_build_with_several_mib_context(berth, tmp_short):
    ctx = os.path.join(tmp_short, "ctx")
    os.mkdir(ctx)
    want = random_file(os.path.join(ctx, "blob.bin"), 6 * MIB)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM bb\nCOPY blob.bin /blob.bin\nRUN sha256sum /blob.bin > /blob.sum\n"
                'CMD ["cat", "/blob.sum"]\n')
    tag = "bb-built:" + uuid.uuid4().hex[:6]
    p = berth.docker("build", "-t", tag, ctx, extra_env={"DOCKER_BUILDKIT": "0"}, timeout=300)
    assert b"Successfully tagged " + tag.encode() in p.stdout, p.stdout
    out = berth.docker("run", "--rm", tag).stdout.split()
    assert out == [want.encode(), b"/blob.bin"]
    berth.docker("rmi", tag)
