"""The SparkApplication's driver and executor pods: what spark-submit gets without the
spark-operator's webhook, CPU requests that fit small clusters, HDFS client settings."""

from __future__ import annotations

import pytest

from .conftest import SCENARIOS, HelmError, one

# Fields of a driver/executor spec that spark-operator 2.5 applies only through its mutating
# webhook (internal/webhook/sparkpod_defaulter.go); the chart must not rely on them.
WEBHOOK_ONLY = ("env", "envVars", "envFrom", "volumeMounts", "ports", "securityContext",
                "podSecurityContext", "configMaps", "secrets", "sidecars", "initContainers",
                "affinity", "tolerations", "hostAliases", "dnsConfig", "lifecycle")


@pytest.mark.parametrize("values", SCENARIOS)
def test_nothing_of_the_pods_depends_on_the_webhook(render, values):
    docs = [d for d in render(values) if d["kind"] == "SparkApplication"]
    for app in docs:
        spec = app["spec"]
        assert "volumes" not in spec, "spec.volumes reach pods only through the webhook"
        for role, container in (("driver", "spark-kubernetes-driver"),
                                ("executor", "spark-kubernetes-executor")):
            pod = spec[role]
            assert not set(pod) & set(WEBHOOK_ONLY), (role, set(pod) & set(WEBHOOK_ONLY))
            template = pod["template"]["spec"]
            c = template["containers"][0]
            # spark-submit merges its container into the template's container of this name.
            assert c["name"] == container
            assert {"name": "WATTSTREAM_CONFIG", "value": "/etc/wattstream/wattstream.yaml"} \
                in c["env"]
            mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
            assert mounts["config"] == "/etc/wattstream"
            volumes = {v["name"]: v for v in template["volumes"]}
            assert set(mounts) <= set(volumes)
            assert volumes["config"]["configMap"]["name"].endswith("-config")
            assert template["securityContext"]["runAsNonRoot"] is True
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert c["securityContext"]["allowPrivilegeEscalation"] is False


def _millicores(q: str) -> int:
    return int(q[:-1]) if q.endswith("m") else int(float(q) * 1000)


@pytest.mark.parametrize("values", SCENARIOS)
def test_pods_request_less_cpu_than_their_cores(render, values):
    """Spark requests a whole CPU per core unless coreRequest is set: on a 2–3 CPU kind host
    the executor would stay Pending."""
    for app in (d for d in render(values) if d["kind"] == "SparkApplication"):
        for role in ("driver", "executor"):
            pod = app["spec"][role]
            assert _millicores(pod["coreRequest"]) <= _millicores(pod["coreLimit"])
            assert pod["memoryOverhead"]


def test_the_kind_profile_requests_a_quarter_core_each(render):
    spec = one(render("values-kind.yaml"), "SparkApplication")["spec"]
    assert _millicores(spec["driver"]["coreRequest"]) <= 250
    assert _millicores(spec["executor"]["coreRequest"]) <= 250


def test_a_cpu_request_above_the_limit_fails_naming_the_field(render):
    with pytest.raises(HelmError, match=r"job.executor.coreRequest: 2 exceeds job.executor."
                                        r"coreLimit \(1\)"):
        render(set={"job.executor.coreRequest": "2"})


@pytest.mark.parametrize("values,replication,policy", [
    ("values.yaml", "1", "DEFAULT"), ("values-kind.yaml", "1", "NEVER"),
    ("values-production.yaml", "2", "DEFAULT")])
def test_the_job_writes_hdfs_with_the_charts_replication(render, values, replication, policy):
    docs = render(values)
    conf = one(docs, "SparkApplication")["spec"]["hadoopConf"]
    assert conf["dfs.replication"] == replication
    assert conf["dfs.client.block.write.replace-datanode-on-failure.policy"] == policy
    site = one(docs, "ConfigMap", "-hdfs")["data"]["hdfs-site.xml"]
    assert f"<name>dfs.replication</name><value>{replication}</value>" in site


def test_without_the_charts_hdfs_no_hdfs_settings_are_forced(render):
    assert "hadoopConf" not in one(render("ci/external-values.yaml"), "SparkApplication")["spec"]
