"""End-to-end Kubernetes with a real k3s (issue 15): `berth start --kubernetes` on an ns
profile, `kubectl get nodes` Ready through the merged kubeconfig context, a Deployment of the
local busybox image serving HTTP, its NodePort service answering on host 127.0.0.1, then
`berth kubernetes reset` and `berth kubernetes delete` (context gone, the user's kept).

Needs a k3s release's files: BERTH_K3S_ARTIFACTS=DIR (k3s, k3s-airgap-images-amd64.tar.gz,
sha256sum-amd64.txt). tests/ci/suites/55-k3s.sh runs it only then and reports "not run"
otherwise; this file never passes without a real k3s."""
import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from berth_harness import BERTH_BIN, short_tmpdir, wait_until  # noqa: E402

ARTIFACTS = os.environ.get("BERTH_K3S_ARTIFACTS", "")
if not ARTIFACTS:
    pytest.fail("BERTH_K3S_ARTIFACTS is not set: this test needs a k3s release's files "
                "(run it through tests/ci/suites/55-k3s.sh, which reports 'not run' without them)",
                pytrace=False)

USERS_CONFIG = """apiVersion: v1
kind: Config
clusters:
- name: mine
  cluster: {server: "https://mine.example:6443"}
users:
- name: mine
  user: {token: t}
contexts:
- name: mine
  context: {cluster: mine, user: mine}
current-context: mine
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: bb
        imagePullPolicy: Never
        command: ["sh", "-c", "mkdir -p /www && echo hello-k3s > /www/index.html && httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 8080, targetPort: 8080, nodePort: 30080}]
"""


@pytest.fixture
def home():
    d = short_tmpdir("k3s-e2e")
    kube = os.path.join(d, "kubeconfig")
    with open(kube, "w") as f:
        f.write(USERS_CONFIG)
    env = dict(os.environ, BERTH_HOME=os.path.join(d, "home"), DOCKER_CONFIG=os.path.join(d, "dc"),
               KUBECONFIG=kube, BERTH_K3S_ARTIFACTS=ARTIFACTS)
    yield d, env
    subprocess.run([BERTH_BIN, "delete", "-f", "--data", "-p", "kube"], env=env,
                   capture_output=True, timeout=300)
    shutil.rmtree(d, ignore_errors=True)


def berth(env, *args, timeout=600):
    p = subprocess.run([BERTH_BIN] + list(args), env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout


def kubectl(env, *args, check=True, stdin=None):
    p = subprocess.run(["kubectl", "--context", "berth-kube"] + list(args), env=env, input=stdin,
                       capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def node_ready(env):
    p = kubectl(env, "get", "nodes", "-o", "json", check=False)
    if p.returncode != 0:
        return False
    nodes = json.loads(p.stdout)["items"]
    return bool(nodes) and all(
        c["status"] == "True" for n in nodes for c in n["status"]["conditions"] if c["type"] == "Ready")


def http_get(port):
    p = subprocess.run(["curl", "-sf", "--max-time", "3", "http://127.0.0.1:%d/" % port],
                       capture_output=True, text=True)
    return p.stdout if p.returncode == 0 else None


def test_k3s_end_to_end(home):
    d, env = home
    berth(env, "start", "-p", "kube", "--vm-type", "ns", "--kubernetes")
    # The image k3s runs comes from the guest's dockerd (k3s --docker): import busybox there.
    bb = os.path.join(d, "bb.tar")
    subprocess.run(["tar", "-C", "/bin", "-cf", bb, "busybox"], check=True)
    sock = os.path.join(env["BERTH_HOME"], "kube", "docker.sock")
    subprocess.run(["docker", "-H", "unix://" + sock, "import", "--change",
                    'CMD ["/busybox", "sh"]', bb, "bb"], check=True, capture_output=True)

    status = json.loads(berth(env, "status", "-p", "kube", "--json"))
    kube = status["kubernetes"]
    assert kube["enabled"] and kube["context"] == "berth-kube", kube
    wait_until(lambda: node_ready(env), 300, "the k3s node to be Ready")
    contexts = subprocess.run(["kubectl", "config", "get-contexts", "-o", "name"], env=env,
                              capture_output=True, text=True).stdout.split()
    assert sorted(contexts) == ["berth-kube", "mine"]

    kubectl(env, "apply", "-f", "-", stdin=DEPLOYMENT)
    kubectl(env, "rollout", "status", "deployment/web", "--timeout=240s")
    wait_until(lambda: http_get(30080) == "hello-k3s\n", 120, "the NodePort on 127.0.0.1:30080")

    berth(env, "kubernetes", "reset", "-p", "kube")
    wait_until(lambda: node_ready(env), 300, "the node after reset")
    assert "web" not in kubectl(env, "get", "deployments", "-o", "name").stdout

    berth(env, "kubernetes", "delete", "-p", "kube")
    contexts = subprocess.run(["kubectl", "config", "get-contexts", "-o", "name"], env=env,
                              capture_output=True, text=True).stdout.split()
    assert contexts == ["mine"]
    # The Docker engine is unaffected by Kubernetes going away.
    out = subprocess.run(["docker", "-H", "unix://" + sock, "run", "--rm", "bb", "echo", "ok"],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout == "ok\n", out.stderr
