"""The SparkApplication's driver and executor pods: what spark-submit gets without the
spark-operator's webhook, CPU requests that fit small clusters, HDFS client settings, and the
driver's liveness probe (alive while it waits for Kafka or HDFS)."""

from __future__ import annotations

import pytest
import yaml

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


# --- the driver's liveness: alive while waiting ------------------------------------------------

def _driver_container(app: dict, role: str = "driver") -> dict:
    (c,) = app["spec"][role]["template"]["spec"]["containers"]
    return c


@pytest.mark.parametrize("values", SCENARIOS)
def test_the_driver_alone_is_probed_on_healthz_of_its_metrics_port(render, values):
    docs = render(values)
    for app in (d for d in docs if d["kind"] == "SparkApplication"):
        c = _driver_container(app)
        probe = c["livenessProbe"]
        assert probe["httpGet"] == {"path": "/healthz", "port": "metrics"}
        # The named port is the job's prometheus-client port, where /healthz is served.
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        cfg = yaml.safe_load(one(docs, "ConfigMap", "-config")["data"]["wattstream.yaml"])
        assert ports["metrics"] == cfg["metrics"]["job_port"]
        # Liveness only: a driver is no Service backend, and a startup probe would pass at
        # once (/healthz answers from the job's first seconds, before Spark is up).
        assert "readinessProbe" not in c and "startupProbe" not in c
        # Executors serve no /healthz; nothing probes them.
        assert not set(_driver_container(app, "executor")) & {
            "livenessProbe", "readinessProbe", "startupProbe"}
    # The scheduled baseline fit is a batch job without /healthz: no probe either.
    for fit in (d for d in docs if d["kind"] == "ScheduledSparkApplication"):
        for role in ("driver", "executor"):
            (c,) = fit["spec"]["template"][role]["template"]["spec"]["containers"]
            assert "livenessProbe" not in c, role


@pytest.mark.parametrize("values", SCENARIOS)
def test_the_probe_tolerates_a_slow_start_and_never_fails_a_waiting_job(render, values):
    """/healthz turns 503 only after 60 s without a beat of the supervisor's loop (which beats
    every couple of seconds while it waits): the kubelet must see more than a minute of failed
    probes, and give the JVM, SparkContext and the Python job time to come up first."""
    for app in (d for d in render(values) if d["kind"] == "SparkApplication"):
        p = _driver_container(app)["livenessProbe"]
        assert p["initialDelaySeconds"] >= 60
        assert p["failureThreshold"] * p["periodSeconds"] >= 60
        assert p["timeoutSeconds"] < p["periodSeconds"]
        assert p["initialDelaySeconds"] + p["failureThreshold"] * p["periodSeconds"] >= 180


def test_the_probe_takes_its_thresholds_from_the_values_and_can_be_turned_off(render):
    app = one(render(set={"job.driver.livenessProbe": {
        "enabled": True, "initialDelaySeconds": 300, "periodSeconds": 30, "timeoutSeconds": 3,
        "failureThreshold": 10}}), "SparkApplication")
    assert _driver_container(app)["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": "metrics"}, "initialDelaySeconds": 300,
        "periodSeconds": 30, "timeoutSeconds": 3, "failureThreshold": 10}
    docs = render(set={"job.driver.livenessProbe.enabled": False})
    assert "livenessProbe" not in _driver_container(one(docs, "SparkApplication"))
    # Without a probe the job's policy has no rule for the kubelet beyond the metrics one.
    ingress = one(docs, "NetworkPolicy", "-job")["spec"]["ingress"]
    assert len(ingress) == len(one(render(), "NetworkPolicy", "-job")["spec"]["ingress"]) - 1


def test_the_kubelet_may_probe_the_driver_when_scraping_is_narrowed(render):
    """values-production.yaml admits the metrics ports from the monitoring namespace only; the
    kubelet probes from its node's address, which networkPolicy.probeFrom admits."""
    nodes = [{"ipBlock": {"cidr": "10.0.0.0/16"}}]
    ingress = one(render("values-production.yaml", set={"networkPolicy.probeFrom": nodes}),
                  "NetworkPolicy", "-job")["spec"]["ingress"]
    assert {"ports": [{"protocol": "TCP", "port": 9108}], "from": nodes} in ingress


def test_the_operators_restart_policy_stays_the_second_line(render):
    """The in-process restart comes first (config.job.restart_*); the operator brings a new
    driver only when the process ends (a permanent fault, restart_max_attempts, a failed
    liveness probe)."""
    docs = render()
    cfg = yaml.safe_load(one(docs, "ConfigMap", "-config")["data"]["wattstream.yaml"])
    assert (cfg["job"]["restart_initial_seconds"], cfg["job"]["restart_max_seconds"],
            cfg["job"]["restart_max_attempts"]) == (1.0, 60.0, 0)
    assert one(docs, "SparkApplication")["spec"]["restartPolicy"]["type"] == "Always"
    with pytest.raises(HelmError, match="config.job.restart_max_seconds: must be >= "
                                        "config.job.restart_initial_seconds"):
        render(set={"config.job.restart_initial_seconds": 120.0})
