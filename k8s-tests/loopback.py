"""A real Kubernetes control plane on loopback, for testing the chart without Docker.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real components
(Kubernetes 1.35); kwok plays the kubelets (nodes Ready, pods Running, nothing executed); the
Kubeflow spark-operator controller and its mutating/validating webhook run as they do in a
cluster, with spark-submit from the project's pyspark. Binaries come from `make
controlplane-tools` (tools/controlplane/); every process is tracked by a pid file and stopped by
pid.

    python k8s-tests/loopback.py up      # prints the `export KUBECONFIG=...` line
    python k8s-tests/loopback.py down

What it cannot show: containers never run (images are not pulled, probes never fire, no
network), and no Strimzi operator reconciles the Kafka resources (the API server still checks
them against the CRDs, including their CEL rules).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from wattstream.local.procs import (  # noqa: E402 - needs the src path above
    LOOPBACK,
    Service,
    StackError,
    free_ports,
    wait_until,
)

BIN = ROOT / "tools" / "controlplane"
CRDS = ROOT / "k8s-tests" / "crds"
RUN_DIR = ROOT / ".run" / "controlplane"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.1/16"
# The spark-operator serves every namespace; its webhook every one but this, which shows what a
# SparkApplication becomes without the webhook.
NO_WEBHOOK_NAMESPACE = "wattstream-nowebhook"
OPERATOR_NAMESPACE = "spark-operator"
WEBHOOK_NAME = "spark-operator-webhook"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def _makefile_version(var: str) -> str:
    text = (ROOT / "Makefile").read_text()
    m = re.search(rf"^{var}\s*\?=\s*(\S+)", text, re.M)
    if not m:
        raise StackError(f"Makefile: no {var}")
    return m.group(1)


def binary(name: str) -> Path:
    """A pinned binary of tools/controlplane, or a clear error naming the make target."""
    version = {
        "etcd": "ETCD_VERSION", "kwok": "KWOK_VERSION", "spark-operator": "SPARK_OPERATOR_VERSION",
    }.get(name, "K8S_VERSION")
    v = _makefile_version(version)
    path = BIN / f"{name}-{'v' if not v.startswith('v') else ''}{v}"
    if not os.access(path, os.X_OK):
        raise StackError(f"{path} is missing: run `make controlplane-tools`")
    return path


# --- certificates (openssl) -------------------------------------------------------------------

def _openssl(*args: str, cwd: Path) -> None:
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if res.returncode:
        raise StackError(f"openssl {' '.join(args[:2])} failed: {res.stderr.strip()}")


def make_pki(pki: Path) -> None:
    """A CA, the API server's serving certificate, client certificates of each identity and the
    service-account signing key (kept across restarts of the same folder)."""
    pki.mkdir(parents=True, exist_ok=True)
    if (pki / "done").exists():
        return
    # RSA: spark-submit's Kubernetes client (fabric8) cannot read EC client keys.
    rsa = ["-newkey", "rsa:2048", "-nodes"]
    _openssl("req", "-x509", *rsa, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
             "-subj", "/CN=wattstream-loopback-ca", cwd=pki)
    certs = {
        # name: (subject, extensions)
        "apiserver": ("/CN=kube-apiserver",
                      "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
                      "DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
                      "extendedKeyUsage=serverAuth"),
        "admin": ("/O=system:masters/CN=wattstream-admin", "extendedKeyUsage=clientAuth"),
        "controller-manager": ("/CN=system:kube-controller-manager",
                               "extendedKeyUsage=clientAuth"),
        "scheduler": ("/CN=system:kube-scheduler", "extendedKeyUsage=clientAuth"),
    }
    for name, (subject, ext) in certs.items():
        (pki / f"{name}.ext").write_text(ext + "\n")
        _openssl("req", *rsa, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
                 cwd=pki)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "3650",
                 "-extfile", f"{name}.ext", cwd=pki)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    (pki / "done").write_text("")


def write_kubeconfig(path: Path, server: str, pki: Path, user: str) -> Path:
    cfg = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "loopback", "cluster": {
            "server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": user, "user": {
            "client-certificate": str(pki / f"{user}.crt"),
            "client-key": str(pki / f"{user}.key")}}],
        "contexts": [{"name": "loopback", "context": {"cluster": "loopback", "user": user}}],
        "current-context": "loopback",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2))
    return path


# --- the cluster ------------------------------------------------------------------------------

@dataclass
class ControlPlane:
    """One loopback control plane under `run_dir` (ports chosen free at start)."""

    run_dir: Path = RUN_DIR
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def pki(self) -> Path:
        return self.run_dir / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.run_dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.ports['apiserver']}"

    def service(self, name: str) -> Service:
        return Service(name, self.run_dir)

    SERVICES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
                "spark-operator-webhook", "spark-operator-controller")

    # -- lifecycle --

    def up(self, timeout: float = 120) -> ControlPlane:
        if any(self.service(s).running() for s in self.SERVICES):
            raise StackError(f"a control plane already runs from {self.run_dir}: "
                             "`python k8s-tests/loopback.py down` first")
        names = ["etcd", "etcd_peer", "apiserver", "kcm", "scheduler", "kwok", "webhook",
                 "webhook_health", "controller_health"]
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "ports.json").write_text(json.dumps(self.ports))
        make_pki(self.pki)
        admin = write_kubeconfig(self.kubeconfig, self.server, self.pki, "admin")
        try:
            self._start_etcd(timeout)
            self._start_apiserver(timeout)
            self._start_controllers(admin)
            self.wait_api(lambda: self.kubectl_ok("get", "serviceaccount", "default",
                                                  "-n", "default"),
                          timeout, "the controller-manager creating default service accounts")
            self.apply_crds()
            self._start_spark_operator(admin, timeout)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> list[str]:
        stopped = [s for s in reversed(self.SERVICES) if self.service(s).stop(timeout=15)]
        return stopped

    @classmethod
    def attach(cls, run_dir: Path = RUN_DIR) -> ControlPlane:
        cp = cls(run_dir=run_dir)
        cp.ports = json.loads((run_dir / "ports.json").read_text())
        return cp

    # -- components --

    def _start(self, name: str, argv: list, env: dict | None = None) -> Service:
        svc = self.service(name)
        svc.start([str(a) for a in argv], env=env, cwd=self.run_dir)
        return svc

    def _fail(self, svc: Service, what: str, exc: Exception) -> StackError:
        return StackError(f"{what}: {exc}\nend of {svc.log_file}:\n{svc.log_tail(25)}")

    def _start_etcd(self, timeout: float) -> None:
        data = self.run_dir / "etcd"
        shutil.rmtree(data, ignore_errors=True)
        peer = f"http://{LOOPBACK}:{self.ports['etcd_peer']}"
        client = f"http://{LOOPBACK}:{self.ports['etcd']}"
        svc = self._start("etcd", [
            binary("etcd"), "--name", "loopback", "--data-dir", data,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"loopback={peer}", "--listen-metrics-urls", "",
            # A throwaway test store: fsync buys nothing and costs seconds per install.
            "--unsafe-no-fsync", "--log-level", "warn",
        ])
        try:
            wait_until(lambda: _http_ok(f"{client}/health"), timeout, "etcd",
                       alive=svc.running)
        except StackError as exc:
            raise self._fail(svc, "etcd did not start", exc) from None

    def _start_apiserver(self, timeout: float) -> None:
        p = self.pki
        svc = self._start("kube-apiserver", [
            binary("kube-apiserver"),
            f"--etcd-servers=http://{LOOPBACK}:{self.ports['etcd']}",
            f"--bind-address={LOOPBACK}", f"--advertise-address={LOOPBACK}",
            f"--secure-port={self.ports['apiserver']}",
            # No kubelets or kube-proxy: the `kubernetes` Service gets no loopback endpoint.
            "--endpoint-reconciler-type=none",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--authorization-mode=RBAC", "--profiling=false",
            f"--cert-dir={self.run_dir / 'apiserver-certs'}",
        ])
        try:
            wait_until(lambda: self._readyz(), timeout, "kube-apiserver", alive=svc.running)
        except StackError as exc:
            raise self._fail(svc, "kube-apiserver did not become ready", exc) from None

    def _readyz(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")
        with urllib.request.urlopen(f"{self.server}/readyz", context=ctx, timeout=5) as r:
            return r.status == 200

    def _start_controllers(self, admin: Path) -> None:
        p = self.pki
        kcm = write_kubeconfig(self.run_dir / "controller-manager.kubeconfig", self.server, p,
                               "controller-manager")
        sched = write_kubeconfig(self.run_dir / "scheduler.kubeconfig", self.server, p,
                                 "scheduler")
        self._start("kube-controller-manager", [
            binary("kube-controller-manager"), f"--kubeconfig={kcm}",
            f"--authentication-kubeconfig={kcm}", f"--authorization-kubeconfig={kcm}",
            f"--bind-address={LOOPBACK}", f"--secure-port={self.ports['kcm']}",
            "--leader-elect=false", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={p / 'ca.crt'}",
            f"--cluster-cidr={POD_CIDR}", "--allocate-node-cidrs=false",
            f"--cert-dir={self.run_dir / 'kcm-certs'}",
        ])
        self._start("kube-scheduler", [
            binary("kube-scheduler"), f"--kubeconfig={sched}",
            f"--authentication-kubeconfig={sched}", f"--authorization-kubeconfig={sched}",
            f"--bind-address={LOOPBACK}", f"--secure-port={self.ports['scheduler']}",
            "--leader-elect=false", f"--cert-dir={self.run_dir / 'scheduler-certs'}",
        ])
        stages = BIN / f"kwok-stages-{_makefile_version('KWOK_VERSION')}.yaml"
        self._start("kwok", [
            binary("kwok"), f"--kubeconfig={admin}", f"--config={stages}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            f"--cidr={POD_CIDR}", "--node-ip=10.244.0.1",
            f"--server-address={LOOPBACK}:{self.ports['kwok']}",
        ])

    def _start_spark_operator(self, admin: Path, timeout: float) -> None:
        import pyspark

        self.kubectl("create", "namespace", OPERATOR_NAMESPACE)
        env = {
            "KUBECONFIG": str(admin),
            # spark-submit (run by the controller) builds its master URL from these.
            "KUBERNETES_SERVICE_HOST": LOOPBACK,
            "KUBERNETES_SERVICE_PORT": str(self.ports["apiserver"]),
            "SPARK_HOME": str(Path(pyspark.__file__).parent),
        }
        certs = self.run_dir / "webhook-certs"
        hook = self._start("spark-operator-webhook", [
            binary("spark-operator"), "webhook", "start",
            f"--webhook-port={self.ports['webhook']}", f"--webhook-cert-dir={certs}",
            "--webhook-secret-name=spark-operator-webhook-certs",
            f"--webhook-secret-namespace={OPERATOR_NAMESPACE}",
            "--webhook-svc-name=spark-operator-webhook-svc",
            f"--webhook-svc-namespace={OPERATOR_NAMESPACE}",
            f"--mutating-webhook-name={WEBHOOK_NAME}",
            f"--validating-webhook-name={WEBHOOK_NAME}",
            "--leader-election=false", "--metrics-bind-address=0",
            f"--health-probe-bind-address={LOOPBACK}:{self.ports['webhook_health']}",
        ], env=env)
        # The webhook configurations of the operator's chart, pointed at loopback. The server
        # certificate the webhook generates names `localhost`; it patches in the CA itself.
        self.apply(webhook_configurations(self.ports["webhook"], [NO_WEBHOOK_NAMESPACE]))
        try:
            wait_until(lambda: _http_ok(
                f"http://{LOOPBACK}:{self.ports['webhook_health']}/readyz"), timeout,
                "spark-operator webhook", alive=hook.running)
            wait_until(self._webhook_ca_patched, timeout, "the webhook's CA bundle",
                       alive=hook.running)
        except StackError as exc:
            raise self._fail(hook, "spark-operator webhook did not start", exc) from None
        ctl = self._start("spark-operator-controller", [
            binary("spark-operator"), "controller", "start",
            "--leader-election=false", "--enable-ui-service=false", "--metrics-bind-address=0",
            f"--health-probe-bind-address={LOOPBACK}:{self.ports['controller_health']}",
        ], env=env)
        try:
            wait_until(lambda: _http_ok(
                f"http://{LOOPBACK}:{self.ports['controller_health']}/readyz"), timeout,
                "spark-operator controller", alive=ctl.running)
        except StackError as exc:
            raise self._fail(ctl, "spark-operator controller did not start", exc) from None

    def _webhook_ca_patched(self) -> bool:
        out = self.kubectl("get", "mutatingwebhookconfiguration", WEBHOOK_NAME, "-o", "json")
        hooks = json.loads(out)["webhooks"]
        return all(h["clientConfig"].get("caBundle") for h in hooks)

    # -- API helpers --

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> str:
        res = subprocess.run([str(binary("kubectl")), *args], input=input, capture_output=True,
                             text=True, env=self.env(), timeout=timeout)
        if check and res.returncode:
            raise StackError(f"kubectl {' '.join(args)}: {res.stderr.strip()}")
        return res.stdout

    def kubectl_ok(self, *args: str) -> bool:
        try:
            self.kubectl(*args)
        except StackError:
            return False
        return True

    def wait_api(self, check, timeout: float, what: str) -> None:
        wait_until(check, timeout, what, interval=0.5)

    def apply(self, docs: list[dict]) -> None:
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                     input="\n---\n".join(json.dumps(d) for d in docs))

    def apply_crds(self) -> None:
        files = sorted(CRDS.rglob("*.yaml"))
        if not files:
            raise StackError(f"no CRDs under {CRDS}")
        args = []
        for f in files:
            args += ["-f", str(f)]
        self.kubectl("apply", "--server-side", *args)

        def established() -> bool:
            crds = json.loads(self.kubectl("get", "crd", "-o", "json"))["items"]
            return len(crds) >= len(files) and all(
                any(c["type"] == "Established" and c["status"] == "True"
                    for c in crd.get("status", {}).get("conditions", []))
                for crd in crds)

        self.wait_api(established, 60, "the CRDs Established")

    def add_nodes(self, count: int, cpu: str, memory: str, prefix: str = "node",
                  pods: int = 110, ephemeral: str = "100Gi", labels: dict | None = None) -> list:
        """Fake nodes that kwok keeps Ready, with the given allocatable resources."""
        names = []
        for i in range(count):
            name = f"{prefix}-{i}"
            names.append(name)
            resources = {"cpu": cpu, "memory": memory, "pods": str(pods),
                         "ephemeral-storage": ephemeral}
            self.apply([{
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": {KWOK_ANNOTATION: "fake"},
                             "labels": {"kubernetes.io/hostname": name,
                                        "kubernetes.io/os": "linux", "type": "kwok",
                                        **(labels or {})}},
                "spec": {},
                "status": {"capacity": resources, "allocatable": resources},
            }])
        return names

    def delete_nodes(self) -> None:
        self.kubectl("delete", "node", "-l", "type=kwok", "--wait=true")

    def add_volumes(self, count: int, size: str, prefix: str = "pv") -> None:
        """hostPath PersistentVolumes without a class: the PV controller binds claims to them
        (there is no provisioner)."""
        self.apply([{
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"{prefix}-{i}", "labels": {"type": "kwok"}},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete",
                     "hostPath": {"path": f"/tmp/loopback-pv/{prefix}-{i}"}},
        } for i in range(count)])


def webhook_configurations(port: int, excluded) -> list[dict]:
    """spark-operator 2.5.2's chart webhooks (templates/webhook/*webhookconfiguration.yaml),
    with `url: https://localhost:<port>` instead of a Service, for every namespace but
    `excluded`."""
    selector = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                      "values": list(excluded)}]}

    def hook(kind: str, path: str, group: str, version: str, resource: str, ops: list,
             objects: dict | None = None) -> dict:
        h = {"name": f"{kind}-{path}.sparkoperator.k8s.io", "admissionReviewVersions": ["v1"],
             "clientConfig": {"url": f"https://localhost:{port}/{kind}-{path}"},
             "sideEffects": "None", "failurePolicy": "Fail", "timeoutSeconds": 10,
             "namespaceSelector": selector,
             "rules": [{"apiGroups": [group], "apiVersions": [version],
                        "resources": [resource], "operations": ops}]}
        if objects:
            h["objectSelector"] = objects
        return h

    apps = [("sparkoperator-k8s-io-v1beta2-sparkapplication", "v1beta2", "sparkapplications"),
            ("sparkoperator-k8s-io-v1beta2-scheduledsparkapplication", "v1beta2",
             "scheduledsparkapplications"),
            ("sparkoperator-k8s-io-v1alpha1-sparkconnect", "v1alpha1", "sparkconnects")]
    mutating = [hook("mutate", "-v1-pod", "", "v1", "pods", ["CREATE"],
                     {"matchLabels": {"sparkoperator.k8s.io/launched-by-spark-operator": "true"}})]
    mutating += [hook("mutate", p, "sparkoperator.k8s.io", v, r, ["CREATE", "UPDATE"])
                 for p, v, r in apps]
    validating = [hook("validate", p, "sparkoperator.k8s.io", v, r, ["CREATE", "UPDATE"])
                  for p, v, r in apps]
    meta = {"name": WEBHOOK_NAME}
    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": meta, "webhooks": mutating},
        {"apiVersion": "admissionregistration.k8s.io/v1",
         "kind": "ValidatingWebhookConfiguration", "metadata": meta, "webhooks": validating},
    ]


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status == 200


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["up", "down"])
    ap.add_argument("--nodes", type=int, default=1, help="fake nodes to add (default 1)")
    ap.add_argument("--node-cpu", default="3", help="allocatable CPU of each node")
    ap.add_argument("--node-memory", default="5Gi", help="allocatable memory of each node")
    args = ap.parse_args(argv)
    try:
        if args.action == "down":
            stopped = ControlPlane().down()
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            return 0
        t0 = time.monotonic()
        cp = ControlPlane().up()
        cp.add_nodes(args.nodes, args.node_cpu, args.node_memory)
        cp.add_volumes(8, "50Gi")
        print(f"control plane up in {time.monotonic() - t0:.0f} s on {cp.server} "
              f"({args.nodes} fake node(s) of {args.node_cpu} CPU / {args.node_memory}); "
              f"logs in {cp.run_dir / 'logs'}")
        print(f"export KUBECONFIG={cp.kubeconfig}")
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
