"""Every name the chart renders, and every name Kubernetes and the operators derive from one, fits
its limit; a release name that cannot fit fails at render time, naming what to change."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from .conftest import API_VERSIONS, CHART, KUBE_VERSION, NAMESPACE, HelmError

LABEL = 63  # a DNS label: hostnames, Service names, label values
# A StatefulSet's pods carry controller-revision-hash: <name>-<hash of up to 10 characters>.
STATEFULSET = LABEL - 11
# Names Strimzi derives from a Kafka cluster's name (its KafkaResources).
STRIMZI_SUFFIXES = ("-kafka-bootstrap", "-kafka-brokers", "-entity-operator", "-cluster-ca-cert")
LONGEST_RELEASE = "energy-analytics-production-eu-west-1-blue-green-abcd"  # Helm's 53 at most
assert len(LONGEST_RELEASE) == 53


def _render(helm: str, release: str, set: dict | None = None) -> list[dict]:
    cmd = [helm, "template", release, str(CHART), "--namespace", NAMESPACE,
           "--kube-version", KUBE_VERSION]
    for a in API_VERSIONS:
        cmd += ["--api-versions", a]
    for k, v in (set or {}).items():
        cmd += ["--set-json", f"{k}={json.dumps(v)}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode:
        raise HelmError(proc.stderr.strip())
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _label_values(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("labels", "matchLabels") and isinstance(value, dict):
                yield from (str(v) for v in value.values())
            else:
                yield from _label_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _label_values(item)


def limited_names(docs: list[dict]) -> list[tuple[str, int]]:
    """(name, limit) of every rendered or derived name bound to a DNS label or shorter."""
    names = [(v, LABEL) for d in docs for v in _label_values(d)]
    for d in docs:
        kind, name, spec = d["kind"], d["metadata"]["name"], d.get("spec", {})
        if kind != "ConfigMap":  # ConfigMap names may hold 253 characters
            names.append((name, LABEL))
        if kind == "StatefulSet":
            names += [(name, STATEFULSET), (spec["serviceName"], LABEL),
                      (f"{name}-{spec['replicas'] - 1}", LABEL)]  # pod name = hostname
        elif kind == "Kafka":
            names += [(name + suffix, LABEL) for suffix in STRIMZI_SUFFIXES]
        elif kind == "KafkaNodePool":
            cluster = d["metadata"]["labels"]["strimzi.io/cluster"]
            names.append((f"{cluster}-{name}-{spec['replicas'] - 1}", LABEL))
        elif kind == "SparkApplication":  # the operator's driver pod and UI Service
            names += [(f"{name}-driver", LABEL), (f"{name}-ui-svc", LABEL)]
        elif kind == "ScheduledSparkApplication":  # each run: <name>-<UnixNano>, its driver
            run = f"{name}-{'9' * 19}"
            names += [(run, LABEL), (f"{run}-driver", LABEL)]
    return names


def _too_long(docs):
    return [(n, len(n), limit) for n, limit in limited_names(docs) if len(n) > limit]


@pytest.mark.parametrize("release, values", [
    ("ws", {}),
    ("energy-prod", {}),
    ("a" * 27, {}),  # + "-wattstream": the longest prefix, 38 characters
    (LONGEST_RELEASE, {"fullnameOverride": "energy"}),
    # The longest names the schema admits, with the most pods.
    ("ws", {"fullnameOverride": "f" * 38, "kafka.clusterName": "k" * 47,
            "kafka.nodePool.replicas": 100, "hdfs.datanode.replicas": 1000}),
], ids=["ws", "energy-prod", "27-characters", "53-characters-with-fullnameOverride", "longest"])
def test_every_name_and_every_derived_name_fits(helm, release, values):
    docs = _render(helm, release, set={"kafka.tls.enabled": True, **values})
    assert len(limited_names(docs)) > 100
    assert _too_long(docs) == []


def test_kafka_pods_are_named_cluster_pool_id_without_repeating_the_cluster(helm):
    docs = _render(helm, "energy-prod")
    pool = next(d for d in docs if d["kind"] == "KafkaNodePool")
    assert pool["metadata"]["name"] == "dual"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "energy-prod-wattstream-kafka"


@pytest.mark.parametrize("release", [
    "a" * 28, LONGEST_RELEASE, "wattstream-" + "b" * 42,
], ids=["28-characters", "53-characters", "53-characters-holding-the-chart-name"])
def test_a_release_name_that_cannot_fit_fails_naming_it_and_the_limit(helm, release):
    with pytest.raises(HelmError, match=rf'release name "{release}" .*at most 38 fit.*'
                                        r"fullnameOverride"):
        _render(helm, release)


@pytest.mark.parametrize("key, value, field, limit", [
    ("fullnameOverride", "f" * 39, "/fullnameOverride", 38),
    ("kafka.clusterName", "k" * 48, "/kafka/clusterName", 47),
])
def test_a_name_override_that_cannot_fit_fails_naming_the_field_and_the_limit(
        helm, key, value, field, limit):
    with pytest.raises(HelmError, match=rf"{field}.*maxLength: got {len(value)}, want {limit}"):
        _render(helm, "ws", set={key: value})


def test_a_node_pool_name_that_makes_kafka_pod_names_too_long_fails(helm):
    with pytest.raises(HelmError, match=r"kafka.nodePool.name: .*\(64 characters\), over the 63"):
        _render(helm, "ws", set={"kafka.clusterName": "k" * 47, "kafka.nodePool.name": "p" * 14})
