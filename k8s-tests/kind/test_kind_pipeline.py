"""The deployed pipeline on a real cluster, end to end (`make kind-up deploy k8s-test`)."""

from __future__ import annotations

import pytest
from cluster import FULLNAME, NAMESPACE, wait_until

KAFKA = f"{FULLNAME}-kafka"
GENERATOR = f"{FULLNAME}-generator"
JOB = f"{FULLNAME}-job"
NAMENODE_POD = f"{FULLNAME}-hdfs-namenode-0"
STRIMZI = ("kafka.strimzi.io", "v1")


def _ready(obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in obj.get("status", {}).get("conditions", []))


def test_kafka_is_ready(custom):
    wait_until(lambda: _ready(custom.get_namespaced_custom_object(
        *STRIMZI, NAMESPACE, "kafkas", KAFKA)), 900, f"Kafka {KAFKA} Ready")


def test_the_topics_exist(custom):
    def topics():
        items = custom.list_namespaced_custom_object(*STRIMZI, NAMESPACE, "kafkatopics")["items"]
        return {t["spec"].get("topicName") for t in items if _ready(t)}

    wait_until(lambda: {"energy_data", "energy_alerts", "energy_data_dlq"} <= topics(), 300,
               "the three topics Ready")


def test_the_spark_application_is_running(custom):
    def state():
        app = custom.get_namespaced_custom_object(
            "sparkoperator.k8s.io", "v1beta2", NAMESPACE, "sparkapplications", JOB)
        return app.get("status", {}).get("applicationState", {}).get("state") == "RUNNING"

    wait_until(state, 900, f"SparkApplication {JOB} RUNNING")


def _count(prom, promql: str) -> int:
    result = prom(promql)
    return int(float(result[0]["value"][1])) if result else 0


def _buildings_of(prom, replica: str) -> int:
    return _count(prom, f'count(count by (building) '
                        f'(wattstream_window_energy_kwh{{building=~"{replica}-.*"}}))')


def test_more_generator_replicas_bring_more_buildings(apps, core, prom):
    """1 → 3 replicas: three distinct replica identities, each with its own full building set
    in the job's windows (waited for, never read once)."""
    selector = "app.kubernetes.io/component=generator"

    def pods():
        return {p.metadata.name for p in
                core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
                if not p.metadata.deletion_timestamp}

    def scale(n):
        apps.patch_namespaced_deployment_scale(GENERATOR, NAMESPACE, {"spec": {"replicas": n}})
        wait_until(lambda: (apps.read_namespaced_deployment(GENERATOR, NAMESPACE).status
                            .ready_replicas or 0) == n and len(pods()) == n,
                   300, f"exactly {n} generator pods ready")
        return pods()

    (first,) = scale(1)
    per_replica = wait_until(lambda: _buildings_of(prom, first), 600,
                             "windows of the first replica's buildings")
    names = scale(3)
    assert first in names and len(names) == 3

    def all_three():
        counts = {n: _buildings_of(prom, n) for n in names}
        return counts if all(c >= per_replica for c in counts.values()) else None

    wait_until(all_three, 900, f"windows of {per_replica} buildings from each of {names}")
    wait_until(lambda: _count(prom, "count(count by (replica) "
                                    "(rate(wattstream_generator_readings_sent_total[2m]) > 0))")
               == 3, 600, "three replicas sending")
    scale(1)


def test_windows_land_on_hdfs(core):
    """Listed through WebHDFS from inside the NameNode pod (curl, not a second JVM beside the
    NameNode's heap; loopback traffic passes the NetworkPolicy)."""
    import json

    from kubernetes.stream import stream

    def listing(path):
        out = stream(core.connect_get_namespaced_pod_exec, NAMENODE_POD, NAMESPACE,
                     command=["curl", "-sf",
                              f"http://localhost:9870/webhdfs/v1{path}?op=LISTSTATUS"],
                     container="namenode", stderr=True, stdin=False, stdout=True, tty=False)
        return json.loads(out)["FileStatuses"]["FileStatus"]

    def parquet_found(path="/wattstream/warehouse", depth=0):
        for st in listing(path):
            child = f"{path}/{st['pathSuffix']}"
            if st["type"] == "FILE" and st["pathSuffix"].endswith(".parquet") and st["length"]:
                return child
            if st["type"] == "DIRECTORY" and depth < 4 and not st["pathSuffix"].startswith("_"):
                found = parquet_found(child, depth + 1)
                if found:
                    return found
        return None

    wait_until(parquet_found, 900, "Parquet windows under /wattstream/warehouse on HDFS")


@pytest.mark.parametrize("metric", [
    "wattstream_window_energy_kwh", "wattstream_readings_processed_total",
    "wattstream_kafka_lag_records", "wattstream_last_progress_timestamp_seconds",
    "wattstream_job_state", "wattstream_job_restarts_total",
    "wattstream_generator_readings_sent_total", "up{component=\"kafka\"}",
])
def test_prometheus_scrapes_the_series(prom, metric):
    wait_until(lambda: prom(metric), 600, f"series {metric} in Prometheus")


def test_prometheus_loaded_the_alert_rules_and_they_evaluate(prom):
    def groups():
        return {g["name"]: g for g in prom(None, "rules")["groups"]}

    loaded = wait_until(lambda: "wattstream.energy" in groups() and groups(), 300,
                        "the wattstream rule groups in Prometheus")
    rules = [r for g in ("wattstream.energy", "wattstream.pipeline") for r in loaded[g]["rules"]]
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def test_the_demo_buildings_cross_both_thresholds(prom):
    """values-kind.yaml runs the generator's demo mode: each replica's building 0 (a hospital
    with an early equipment spike) passes 150 and 180 kWh in its first windows, at the default
    thresholds, whatever the hour the cluster was started."""
    for alert in ("HIGH_CONSUMPTION", "PEAK_DEMAND"):
        wait_until(lambda alert=alert: prom(
            f'sum(wattstream_alerts_total{{type="{alert}",building=~".*-b00000"}}) > 0'),
            900, f"a {alert} alert of a demo building")


def test_grafana_loaded_the_dashboard(core):
    pods = core.list_namespaced_pod("monitoring",
                                    label_selector="app.kubernetes.io/name=grafana").items
    assert pods, "no Grafana pod in namespace monitoring"

    def logged():
        logs = core.read_namespaced_pod_log(pods[0].metadata.name, "monitoring",
                                            container="grafana-sc-dashboard")
        return "wattstream-energy.json" in logs

    wait_until(logged, 300, "the Grafana sidecar writing wattstream-energy.json")
