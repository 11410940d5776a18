"""The SparkApplication reconciled by the real spark-operator 2.5.2: the driver pod its
spark-submit creates, with the operator's mutating webhook on and off."""

from __future__ import annotations

import json

import pytest
from harness import wait_for
from loopback import NO_WEBHOOK_NAMESPACE

IMAGE = "wattstream/job:0.1.0-kind"


@pytest.fixture(scope="module")
def drivers(cluster):
    """The kind profile installed twice, where the webhook serves and where it does not (on the
    larger nodes: two kind releases do not share one kind host)."""
    rels = [cluster.install("values-kind.yaml", namespace=ns, machine="production")
            for ns in ("wattstream", NO_WEBHOOK_NAMESPACE)]
    try:
        yield {r.namespace: (r, r.driver_pod()) for r in rels}
    finally:
        for r in rels:
            cluster.remove(r)


def _container(pod: dict) -> dict:
    (c,) = [c for c in pod["spec"]["containers"] if c["name"] == "spark-kubernetes-driver"]
    return c


def _mib(q: str) -> int:
    units = {"Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for u, f in sorted(units.items(), key=lambda x: -len(x[0])):
        if q.endswith(u):
            return round(float(q[:-len(u)]) * f)
    return round(int(q) / 2**20)


def _spark_mib(q: str) -> int:
    return int(float(q[:-1]) * (1024 if q[-1] in "gG" else 1)) if q[-1] in "mMgG" else int(q)


@pytest.mark.parametrize("namespace", ["wattstream", NO_WEBHOOK_NAMESPACE])
def test_the_driver_pod_is_what_the_chart_asks_for(drivers, namespace):
    rel, pod = drivers[namespace]
    app = rel.get("sparkapplication", "ws-wattstream-job")["spec"]
    spec, c = pod["spec"], _container(pod)
    assert c["image"] == IMAGE
    # Spark's entrypoint runs the image's job file with the `job` argument.
    assert c["args"][0] == "driver" and c["args"][-2:] == [
        "local:///opt/wattstream/job_main.py", "job"]
    assert spec["serviceAccountName"] == "ws-wattstream-spark"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["WATTSTREAM_CONFIG"] == "/etc/wattstream/wattstream.yaml"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert mounts["config"] == "/etc/wattstream"
    assert volumes["config"]["configMap"]["name"] == "ws-wattstream-config"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["metrics"] == 9108 and ports["spark-ui"] == 4040
    assert spec["securityContext"]["runAsUser"] == 185
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    # Memory: heap plus the overhead the chart sizes for the Python side, requested and capped.
    want = _spark_mib(app["driver"]["memory"]) + _spark_mib(app["driver"]["memoryOverhead"])
    res = c["resources"]
    assert _mib(res["requests"]["memory"]) == want == _mib(res["limits"]["memory"])
    assert res["requests"]["cpu"] == app["driver"]["coreRequest"]
    assert res["limits"]["cpu"] == app["driver"]["coreLimit"]
    # The Hadoop client settings reach Spark's own properties file.
    conf = _spark_properties(rel, pod)
    assert conf["spark.hadoop.dfs.replication"] == "1"
    assert conf["spark.hadoop.dfs.client.block.write.replace-datanode-on-failure.policy"] == \
        "NEVER"
    assert conf["spark.kubernetes.executor.podTemplateFile"]


def _spark_properties(rel, pod) -> dict:
    (vol,) = [v for v in pod["spec"]["volumes"] if v["name"] == "spark-conf-volume-driver"]
    cm = rel.get("configmap", vol["configMap"]["name"])
    text = cm["data"]["spark.properties"]
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().replace("\\:", ":").replace("\\=", "=")
    return out


def test_the_driver_does_not_depend_on_the_webhook(drivers):
    """With a pod template the operator does not even mark the pod for the webhook: both
    namespaces give the same driver."""
    def essentials(pod):
        c = _container(pod)
        return {
            "env": sorted(e["name"] for e in c["env"] if "SPARK" not in e["name"]),
            "mounts": sorted((m["name"], m["mountPath"]) for m in c["volumeMounts"]
                             if not m["name"].startswith(("spark", "kube-api-access"))),
            "ports": sorted(p["containerPort"] for p in c["ports"]),
            "security": json.dumps([pod["spec"]["securityContext"], c["securityContext"]],
                                   sort_keys=True),
            "resources": json.dumps(c["resources"], sort_keys=True),
        }

    on, off = (essentials(drivers[ns][1]) for ns in ("wattstream", NO_WEBHOOK_NAMESPACE))
    assert on == off
    for _, pod in drivers.values():
        assert "sparkoperator.k8s.io/mutated-by-spark-operator" not in pod["metadata"]["labels"]


def test_without_a_pod_template_the_webhook_decides(cluster, drivers):
    """The control case, showing the check can fail: the same application with env, mounts and
    ports only in the operator's own fields gets them where the webhook serves, and silently
    loses them where it does not."""
    pods = {}
    for ns, (rel, _) in drivers.items():
        app = rel.get("sparkapplication", "ws-wattstream-job")
        spec = app["spec"]
        for role in ("driver", "executor"):
            template = spec[role].pop("template")["spec"]
            container = template["containers"][0]
            spec[role]["env"] = container["env"]
            spec[role]["volumeMounts"] = container["volumeMounts"]
        spec["volumes"] = template["volumes"]
        legacy = {"apiVersion": app["apiVersion"], "kind": app["kind"],
                  "metadata": {"name": "legacy", "namespace": ns}, "spec": spec}
        cluster.cp.kubectl("apply", "-f", "-", input=json.dumps(legacy))
        pods[ns] = wait_for(lambda ns=ns, rel=rel: next(iter(rel.pods(
            "sparkoperator.k8s.io/app-name=legacy,spark-role=driver")), None),
            240, f"the legacy driver in {ns}")
    for ns, pod in pods.items():
        env = {e["name"] for e in _container(pod)["env"]}
        if ns == NO_WEBHOOK_NAMESPACE:
            assert "WATTSTREAM_CONFIG" not in env
        else:
            assert "WATTSTREAM_CONFIG" in env
    for ns in pods:
        cluster.cp.kubectl("delete", "sparkapplication", "legacy", "-n", ns, "--wait=true")


@pytest.mark.parametrize("namespace", ["wattstream", NO_WEBHOOK_NAMESPACE])
def test_the_driver_is_probed_for_liveness_on_healthz(drivers, namespace):
    """The probe that lets a job waiting for Kafka live: in the SparkApplication's driver
    template as the API server stored it, and on the driver pod spark-submit made from that
    template (kwok runs no probes: that the kubelet keeps a waiting driver is the kind suite's
    broker-restart test)."""
    rel, pod = drivers[namespace]
    app = rel.get("sparkapplication", "ws-wattstream-job")["spec"]
    (template,) = app["driver"]["template"]["spec"]["containers"]
    want = template["livenessProbe"]
    assert want["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert want["initialDelaySeconds"] >= 60 and want["failureThreshold"] >= 3
    for c in app["executor"]["template"]["spec"]["containers"]:
        assert "livenessProbe" not in c  # executors serve no /healthz
    c = _container(pod)
    got = c["livenessProbe"]
    # The API server adds its defaults (scheme HTTP, successThreshold 1); the rest is ours.
    for key, value in want.items():
        if key == "httpGet":
            assert {k: got[key][k] for k in value} == value
        else:
            assert got[key] == value, key
    # The named port resolves in the container Spark built: the job's /metrics port.
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["metrics"] == 9108
    assert "readinessProbe" not in c and "startupProbe" not in c
