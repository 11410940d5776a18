"""Helpers of the control-plane suite: the chart installed with Helm on a real API server,
scheduler, controller-manager and spark-operator (k8s-tests/loopback.py), with kwok's fake nodes
sized like the machines the README documents.

    def test_x(cluster):
        rel = cluster.install("values-kind.yaml")   # helm install, waits for every pod scheduled
        rel.pods()                                  # live pods of the release's namespace

The binaries come from `make controlplane-tools`; without them the suite fails with that command
(`make test` builds them first), it never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loopback import ControlPlane, StackError  # noqa: E402

from wattstream import waiting  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "wattstream"
TOOLS = ROOT / "tools"

# The machines the README promises. kind: one worker on a Docker host of 4 CPUs and 8 GiB, of
# which kind's control plane, the three operators and kube-prometheus-stack take about 1 CPU and
# 3 GiB; production: three 4-CPU, 16-GiB nodes.
MACHINES = {
    "kind": {"count": 1, "cpu": "3", "memory": "5Gi"},
    "production": {"count": 3, "cpu": "4", "memory": "16Gi"},
}


def machine_for(values: str) -> str:
    return "kind" if "kind" in values else "production"


def helm_binary() -> str:
    found = sorted(TOOLS.glob("helm-v*"), reverse=True)
    if not found:
        pytest.fail("helm not found: run `make k8s-tools`")
    return str(found[0])


def wait_for(condition, timeout: float, what: str, interval: float = 0.5):
    """`waiting.wait_until` failing the test: poll until `condition()` is truthy."""
    return waiting.wait_until(condition, timeout, what, interval, error=pytest.fail.Exception)


class HelmFailed(Exception):
    """helm refused; the message is helm's."""


@dataclass
class Release:
    cluster: Cluster
    name: str
    namespace: str

    def get(self, kind: str, name: str | None = None, selector: str | None = None) -> dict | list:
        args = ["get", kind, "-n", self.namespace, "-o", "json"]
        if name:
            args.insert(2, name)
        if selector:
            args += ["-l", selector]
        out = json.loads(self.cluster.cp.kubectl(*args))
        return out if name else out["items"]

    def pods(self, selector: str | None = None) -> list[dict]:
        return self.get("pods", selector=selector)

    def driver_pod(self, timeout: float = 240) -> dict:
        """The driver pod the spark-operator's spark-submit created for the release's job."""
        app = f"{self.cluster.fullname(self.name)}-job"
        return wait_for(lambda: next(iter(self.pods(
            f"sparkoperator.k8s.io/app-name={app},spark-role=driver")), None),
            timeout, f"the driver pod of SparkApplication {app}")

    def helm(self, *args: str) -> str:
        return self.cluster.helm(*args, "-n", self.namespace)


class Cluster:
    """The loopback control plane plus Helm, shared by the suite."""

    def __init__(self, cp: ControlPlane):
        self.cp = cp
        self.helm_bin = helm_binary()
        self.machine: str | None = None

    def helm(self, *args: str, timeout: float = 300) -> str:
        res = subprocess.run([self.helm_bin, *args, "--kubeconfig", str(self.cp.kubeconfig)],
                             capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "HELM_CACHE_HOME": str(self.cp.run_dir / "helm"),
                                  "HELM_CONFIG_HOME": str(self.cp.run_dir / "helm"),
                                  "HELM_DATA_HOME": str(self.cp.run_dir / "helm")})
        if res.returncode:
            raise HelmFailed(res.stderr.strip())
        return res.stdout

    @staticmethod
    def fullname(release: str) -> str:
        return release if "wattstream" in release else f"{release}-wattstream"

    def use_machine(self, name: str) -> None:
        """Replace the fake nodes by the documented machine `name` (no-op if already)."""
        if self.machine == name:
            return
        self.cp.kubectl("delete", "pods", "--all-namespaces", "-l", STAND_IN, "--wait=true")
        self.cp.delete_nodes()
        m = MACHINES[name]
        self.cp.add_nodes(m["count"], m["cpu"], m["memory"], prefix=f"{name}-node")
        wait_for(lambda: all(
            any(c["type"] == "Ready" and c["status"] == "True"
                for c in n["status"].get("conditions", []))
            for n in json.loads(self.cp.kubectl("get", "nodes", "-o", "json"))["items"]),
            60, "kwok to mark the nodes Ready")
        self.machine = name

    def install(self, values: str = "values.yaml", namespace: str = "wattstream",
                release: str = "ws", set: dict | None = None, wait: bool = True,
                machine: str | None = None) -> Release:
        """helm install (images never pull here), add what the missing operators would run, then
        wait until every pod is scheduled."""
        self.use_machine(machine or machine_for(values))
        self.ensure_volumes()
        args = ["install", release, str(CHART), "-n", namespace, "--create-namespace"]
        args += _values_args(values, set)
        self.helm(*args)
        rel = Release(self, release, namespace)
        if wait:
            if rel.get("sparkapplications"):
                rel.driver_pod()  # executors' stand-ins carry its application id
            self.add_stand_ins(rel)
            self.wait_scheduled(rel)
        return rel

    def upgrade(self, rel: Release, values: str, set: dict | None = None) -> str:
        return rel.helm("upgrade", rel.name, str(CHART), *_values_args(values, set))

    def uninstall(self, rel: Release) -> None:
        rel.helm("uninstall", rel.name, "--wait", "--timeout", "120s")
        self.cp.kubectl("delete", "pods,services", "-n", rel.namespace, "-l", STAND_IN,
                        "--wait=true")

    def remove(self, rel: Release) -> None:
        """Uninstall if still installed and delete the namespace (with its claims)."""
        if rel.name in self.helm("list", "-q", "-n", rel.namespace).split():
            self.uninstall(rel)
        self.cp.kubectl("delete", "namespace", rel.namespace, "--wait=true", "--timeout=120s")

    def ensure_volumes(self, available: int = 8) -> None:
        """hostPath volumes for the claims of the next install (no provisioner here)."""
        pvs = json.loads(self.cp.kubectl("get", "pv", "-o", "json"))["items"]
        free = sum(1 for pv in pvs if pv["status"].get("phase") == "Available")
        if free < available:
            self.cp.add_volumes(available - free, "250Gi", prefix=f"pv{len(pvs)}")

    def add_stand_ins(self, rel: Release) -> list[str]:
        """Pods that operators absent here would create, with the resources they would request:
        Strimzi's Kafka nodes and entity operator (from the live Kafka and KafkaNodePool), Spark's
        executors (from the live SparkApplication: the driver never runs under kwok). They let
        the scheduler judge the whole release against the documented machine."""
        pods = []
        for pool in rel.get("kafkanodepools"):
            cluster = pool["metadata"]["labels"]["strimzi.io/cluster"]
            for i in range(pool["spec"]["replicas"]):
                pods.append(_stand_in(
                    f"{cluster}-{pool['metadata']['name']}-{i}", "kafka",
                    pool["spec"].get("resources", {}),
                    {"strimzi.io/cluster": cluster, "strimzi.io/kind": "Kafka",
                     "strimzi.io/name": f"{cluster}-kafka",
                     "strimzi.io/pool-name": pool["metadata"]["name"],
                     "strimzi.io/broker-role": "true", "strimzi.io/controller-role": "true"},
                    hostname=f"{cluster}-{pool['metadata']['name']}-{i}",
                    subdomain=f"{cluster}-kafka-brokers"))
        for kafka in rel.get("kafkas"):
            name = kafka["metadata"]["name"]
            for svc in (f"{name}-kafka-bootstrap", f"{name}-kafka-brokers"):
                pods.append({"apiVersion": "v1", "kind": "Service",
                             "metadata": {"name": svc, "labels": {STAND_IN: "true"}},
                             "spec": {"selector": {"strimzi.io/cluster": name},
                                      "ports": [{"name": "tcp-clients", "port": 9092}],
                                      **({"clusterIP": "None"} if svc.endswith("brokers")
                                         else {})}})
            eo = kafka["spec"].get("entityOperator") or {}
            containers = [(c, eo[c].get("resources", {})) for c in ("topicOperator",
                                                                    "userOperator") if c in eo]
            if containers:
                pods.append(_stand_in(f"{name}-entity-operator", containers,
                                      labels={"strimzi.io/cluster": name,
                                              "strimzi.io/kind": "Kafka",
                                              "strimzi.io/name": f"{name}-entity-operator"}))
        for app in rel.get("sparkapplications"):
            ex = app["spec"]["executor"]
            memory = _mebibytes(ex["memory"]) + _mebibytes(ex.get("memoryOverhead", "384m"))
            labels = dict(ex.get("template", {}).get("metadata", {}).get("labels", {}))
            labels.update({"spark-role": "executor",
                           "sparkoperator.k8s.io/app-name": app["metadata"]["name"]})
            # Spark labels executors with the driver's application id (its own executor
            # NetworkPolicy selects them by it).
            driver = rel.pods(f"sparkoperator.k8s.io/app-name={app['metadata']['name']},"
                              "spark-role=driver")
            if driver:
                labels["spark-app-selector"] = driver[0]["metadata"]["labels"][
                    "spark-app-selector"]
            for i in range(ex.get("instances", 1)):
                pods.append(_stand_in(
                    f"{app['metadata']['name']}-exec-{i + 1}", "spark-kubernetes-executor",
                    {"requests": {"cpu": ex["coreRequest"], "memory": f"{memory}Mi"},
                     "limits": {"cpu": ex["coreLimit"], "memory": f"{memory}Mi"}}, labels))
        if pods:
            self.cp.kubectl("apply", "-n", rel.namespace, "-f", "-",
                            input="\n---\n".join(json.dumps(p) for p in pods))
        return [p["metadata"]["name"] for p in pods if p["kind"] == "Pod"]

    def wait_scheduled(self, rel: Release, timeout: float = 240) -> list[dict]:
        """Every pod of the release's namespace scheduled and Running (kwok), including the
        driver the spark-operator creates when the chart renders a job."""
        has_job = any(True for _ in rel.get("sparkapplications"))

        def done():
            pods = rel.pods()
            if has_job and not any(p["metadata"]["labels"].get("spark-role") == "driver"
                                   for p in pods):
                return None
            pending = [p["metadata"]["name"] for p in pods
                       if p["status"].get("phase") != "Running"]
            return pods if pods and not pending else None

        return wait_for(done, timeout, f"every pod of {rel.namespace} scheduled and Running "
                        f"(unschedulable: {self.unschedulable(rel)})")

    def unschedulable(self, rel: Release) -> list[str]:
        out = []
        try:
            for p in rel.pods():
                for c in p["status"].get("conditions", []):
                    if c["type"] == "PodScheduled" and c["status"] == "False":
                        out.append(f"{p['metadata']['name']}: {c.get('message')}")
        except StackError as exc:
            out.append(str(exc))
        return out


STAND_IN = "wattstream.test/stand-in"


def _stand_in(name: str, containers, resources: dict | None = None, labels: dict | None = None,
              hostname: str | None = None, subdomain: str | None = None) -> dict:
    if isinstance(containers, str):
        containers = [(containers, resources or {})]
    spec = {"containers": [{"name": c.lower(), "image": "stand-in", "resources": r}
                           for c, r in containers],
            "automountServiceAccountToken": False}
    if hostname:
        spec["hostname"], spec["subdomain"] = hostname, subdomain
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {STAND_IN: "true", **(labels or {})}},
            "spec": spec}


def _mebibytes(q: str) -> int:
    """Spark's memory strings ("768m", "1g", "1024") in MiB."""
    q = q.strip().lower()
    units = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
    if q[-1] in units:
        return int(float(q[:-1]) * units[q[-1]])
    return int(q)


def _values_args(values: str, set: dict | None) -> list[str]:
    args = [] if values == "values.yaml" else ["-f", str(CHART / values)]
    for k, v in (set or {}).items():
        args += ["--set-json", f"{k}={json.dumps(v)}"]
    return args
