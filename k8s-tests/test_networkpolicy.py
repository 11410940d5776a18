"""The chart's NetworkPolicies evaluated on the live objects of an installed release: the pods
each policy selects, and the connections they admit and refuse between the live pods (Strimzi's
Kafka nodes and Spark's executors as stand-ins), a pod of another namespace, Prometheus and the
kubelet."""

from __future__ import annotations

import json

import pytest
from netpol import Endpoint, admitted, policy_selects

COMPONENT = "app.kubernetes.io/component"
OUTSIDER = {"namespace": "p-elsewhere", "labels": {"app": "curious"}}
PROMETHEUS = {"namespace": "monitoring", "labels": {"app.kubernetes.io/name": "prometheus"}}
DNS = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}


@pytest.fixture(scope="module", params=["values-kind.yaml", "ci/tls-values.yaml"],
                ids=["plain", "tls"])
def live(cluster, request):
    ns = "p-netpol-" + request.param.split("/")[-1].split("-")[0]
    rel = cluster.install(request.param, namespace=ns)
    try:
        pods = [Endpoint.of(p) for p in rel.pods()]
        policies = rel.get("networkpolicies")
        namespaces = {n["metadata"]["name"]: n["metadata"].get("labels", {})
                      for n in json.loads(cluster.cp.kubectl("get", "namespaces", "-o",
                                                             "json"))["items"]}
        for extra in (OUTSIDER, PROMETHEUS, DNS):
            namespaces.setdefault(extra["namespace"], {
                "kubernetes.io/metadata.name": extra["namespace"]})
        node_ips = [a["address"] for n in json.loads(cluster.cp.kubectl(
            "get", "nodes", "-o", "json"))["items"] for a in n["status"].get("addresses", [])
            if a["type"] == "InternalIP"]
        yield {"rel": rel, "pods": pods, "policies": policies, "namespaces": namespaces,
               "raw": rel.pods(), "node_ips": node_ips, "tls": "tls" in request.param}
    finally:
        cluster.remove(rel)


def _role(p: Endpoint) -> str:
    if p.labels.get("strimzi.io/pool-name"):
        return "kafka"
    if p.labels.get("spark-role"):
        return p.labels["spark-role"]
    return p.labels.get(COMPONENT, "other")


def _pods(live, role):
    found = [p for p in live["pods"] if _role(p) == role]
    assert found, f"no live {role} pod"
    return found


def _ok(live, src, dst, port, protocol="TCP"):
    return admitted(live["policies"], live["namespaces"], src, dst, port, protocol)


def _ext(spec):
    return Endpoint(spec["namespace"], spec["labels"], "x")


def _owner(policy) -> str:
    """The chart's component of a policy, or `spark` for the one Spark 4's driver creates
    (owned by the driver pod: executors admit only pods of their own application)."""
    if any(o["kind"] == "Pod" for o in policy["metadata"].get("ownerReferences", [])):
        return "spark"
    return policy["metadata"]["labels"][COMPONENT]


def test_each_policy_selects_exactly_its_component(live):
    # The report's CronJob runs daily: no pod of it is live here (its flows are checked with
    # a pod of its template's labels below).
    expected = {"generator": {"generator"}, "hdfs-namenode": {"hdfs-namenode"},
                "hdfs-datanode": {"hdfs-datanode"}, "job": {"driver", "executor"},
                "spark": {"executor"}, "report": set()}
    seen = set()
    for policy in live["policies"]:
        comp = _owner(policy)
        roles = {_role(p) for p in live["pods"] if policy_selects(policy, p)}
        assert roles == expected[comp], (policy["metadata"]["name"], roles)
        seen.add(comp)
    assert seen == set(expected)


def test_the_pipeline_flows_are_admitted(live):
    kafka_port = 9093 if live["tls"] else 9092
    kafka = _pods(live, "kafka")[0]
    nn, dn = _pods(live, "hdfs-namenode")[0], _pods(live, "hdfs-datanode")[0]
    driver, executor = _pods(live, "driver")[0], _pods(live, "executor")[0]
    dns = _ext(DNS)
    for app in (_pods(live, "generator")[0], driver, executor):
        assert _ok(live, app, kafka, kafka_port), app.name
        assert _ok(live, app, dns, 53, "UDP"), app.name
    for spark in (driver, executor):
        assert _ok(live, spark, nn, 8020), spark.name
        assert _ok(live, spark, dn, 9866), spark.name
    assert _ok(live, driver, executor, 7079) and _ok(live, executor, driver, 7078)
    assert _ok(live, dn, nn, 8020)
    prom = _ext(PROMETHEUS)
    assert _ok(live, prom, _pods(live, "generator")[0], 9109)
    assert _ok(live, prom, driver, 9108) and _ok(live, prom, driver, 4040)


def test_the_report_pod_reaches_hdfs_and_nothing_else(live):
    (cron,) = live["rel"].get("cronjobs")
    template = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    report = Endpoint(live["rel"].namespace, template, "report")
    nn, dn = _pods(live, "hdfs-namenode")[0], _pods(live, "hdfs-datanode")[0]
    assert _ok(live, report, nn, 8020) and _ok(live, report, dn, 9866)
    assert _ok(live, report, _ext(DNS), 53, "UDP")
    assert not _ok(live, report, _pods(live, "kafka")[0], 9093 if live["tls"] else 9092)
    assert not _ok(live, report, _pods(live, "driver")[0], 7078)
    assert not _ok(live, _ext(OUTSIDER), report, 4040)


def test_everything_else_is_refused(live):
    generator, nn = _pods(live, "generator")[0], _pods(live, "hdfs-namenode")[0]
    dn, driver = _pods(live, "hdfs-datanode")[0], _pods(live, "driver")[0]
    outsider = _ext(OUTSIDER)
    assert not _ok(live, generator, nn, 8020)
    assert not _ok(live, generator, driver, 7078)
    assert not _ok(live, outsider, nn, 8020)
    assert not _ok(live, outsider, dn, 9866)
    assert not _ok(live, outsider, driver, 7078)
    assert not _ok(live, nn, _pods(live, "kafka")[0], 9092)


def test_the_kafka_listeners_admit_only_the_release_apps(live):
    """Strimzi renders the listener policies from networkPolicyPeers (no Strimzi runs here: the
    peers are evaluated against the live pods)."""
    from netpol import selects

    kafka = live["rel"].get("kafkas")[0]
    listeners = kafka["spec"]["kafka"]["listeners"]
    for lst in listeners:
        peers = lst.get("networkPolicyPeers")
        assert peers, f"listener {lst['name']} is open to every pod"
        admitted_roles = {_role(p) for p in live["pods"]
                          if any(selects(x.get("podSelector"), p.labels) for x in peers)}
        assert {"generator", "driver", "executor"} <= admitted_roles, admitted_roles
        assert "hdfs-namenode" not in admitted_roles


def test_the_kubelet_reaches_every_probe(live):
    """Probes come from the node: a policy that forgets them makes pods never Ready on CNIs
    that enforce policies."""
    kubelet = Endpoint(None, {}, "kubelet", ip=live["node_ips"][0] if live["node_ips"]
                       else "10.244.0.1")
    checked = 0
    for raw in live["raw"]:
        if raw["metadata"]["labels"].get("wattstream.test/stand-in"):
            continue
        pod = Endpoint.of(raw)
        for c in raw["spec"]["containers"]:
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                action = (c.get(probe) or {}).get("httpGet") or (c.get(probe) or {}).get(
                    "tcpSocket")
                if not action:
                    continue
                port = action["port"]
                if isinstance(port, str):
                    port = next(n for name, n, _ in pod.ports if name == port)
                assert _ok(live, kubelet, pod, port), f"{pod.name} {probe} port {port}"
                checked += 1
    assert checked
