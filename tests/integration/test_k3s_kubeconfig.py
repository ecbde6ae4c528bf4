"""`berth delete` takes exactly the profile's kube context (cluster, user, context named like
its docker context) out of the user's kubeconfig, keeping the user's own entries; checked with
the real kubectl."""
import os
import subprocess

USERS_AND_BERTHS = """apiVersion: v1
kind: Config
clusters:
- name: mine
  cluster: {server: "https://mine.example:6443"}
- name: berth-kd
  cluster: {server: "https://127.0.0.1:6443"}
- name: berth-other
  cluster: {server: "https://127.0.0.1:6444"}
users:
- name: mine
  user: {token: t}
- name: berth-kd
  user: {token: k}
- name: berth-other
  user: {token: o}
contexts:
- name: mine
  context: {cluster: mine, user: mine}
- name: berth-kd
  context: {cluster: berth-kd, user: berth-kd}
- name: berth-other
  context: {cluster: berth-other, user: berth-other}
current-context: berth-kd
"""


def kubectl(env, *args):
    p = subprocess.run(["kubectl"] + list(args), env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_delete_removes_only_the_profiles_kube_context(profiles):
    kube = os.path.join(profiles.home, "kube", "config")
    os.makedirs(os.path.dirname(kube))
    with open(kube, "w") as f:
        f.write(USERS_AND_BERTHS)
    env = dict(profiles.env, KUBECONFIG=kube + ":" + os.path.join(profiles.home, "absent"))
    profiles.start("--lazy", profile="kd")
    p = profiles.berth("delete", "-f", "-p", "kd", env=env)
    err = p.stderr.decode() if isinstance(p.stderr, bytes) else p.stderr
    assert 'removed kube context "berth-kd" from ' + kube in err, err
    assert kubectl(env, "config", "get-contexts", "-o", "name").split() == ["berth-other", "mine"]
    assert kubectl(env, "config", "view", "-o", "jsonpath={.users[*].name}") == "berth-other mine"
    assert kubectl(env, "config", "view", "-o", "jsonpath={.clusters[*].name}") == \
        "berth-other mine"
    assert kubectl(env, "config", "view", "-o", "jsonpath={.current-context}") == ""
    assert os.stat(kube).st_mode & 0o777 == 0o600
    assert not os.path.exists(os.path.join(profiles.home, "absent"))
