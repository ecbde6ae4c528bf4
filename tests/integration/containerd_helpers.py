"""Images for the containerd runtime's tests and benchmark, made here (no registry): a
`docker save`-format tarball of busybox-static, optionally with a large file of random bytes
(incompressible) in its layer."""
import hashlib
import io
import json
import os
import tarfile

IMAGE = "docker.io/library/bb:latest"
APPLETS = ("sh", "echo", "cat", "sha256sum", "sleep", "wc", "httpd")


def cni_bridge(name, ipam_dir):
    """The CNI bridge plugin's config of network `name`: a bridge of that name, the gateway of
    10.213.7.0/24 (host-local addresses, leases kept in `ipam_dir`), masquerading out."""
    return {"cniVersion": "0.4.0", "name": name, "type": "bridge", "bridge": name,
            "isGateway": True, "ipMasq": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.213.7.0/24"}]],
                     "routes": [{"dst": "0.0.0.0/0"}], "dataDir": ipam_dir}}


def _random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = min(left, 8 << 20)
            f.write(os.urandom(chunk))
            left -= chunk


def busybox_docker_archive(path, image=IMAGE, random_bytes=0):
    """Writes the tarball at `path`; with `random_bytes`, the layer also holds /data/random of
    that size. The layer is staged beside `path` (it may be large) and removed."""
    layer_path = path + ".layer"
    with tarfile.open(layer_path, "w") as t:
        for d in ("bin", "tmp", "proc", "sys", "dev", "etc", "data"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            t.addfile(info)
        t.add("/bin/busybox", arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo("bin/" + applet)
            info.type, info.linkname = tarfile.SYMTYPE, "/bin/busybox"
            t.addfile(info)
        if random_bytes:
            blob = path + ".random"
            _random_file(blob, random_bytes)
            t.add(blob, arcname="data/random")
            os.unlink(blob)
    digest = hashlib.sha256()
    with open(layer_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    diff_id = "sha256:" + digest.hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [image],
                            "Layers": ["layer/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as t:
        for name, data in ((config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        t.add(layer_path, arcname="layer/layer.tar")
    os.unlink(layer_path)
