"""`helm install`, `upgrade` and `uninstall` of every profile against a real API server (strict
field validation, the operators' CRD schemas and CEL rules), with every pod scheduled by the real
scheduler on nodes the size of the machines the README documents."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from harness import CHART, HelmFailed, wait_for

SCENARIOS = ["values.yaml", "values-kind.yaml", "values-production.yaml"] + sorted(
    f"ci/{p.name}" for p in (CHART / "ci").glob("*-values.yaml"))


def _slug(values: str) -> str:
    return "p-" + re.sub(r"[^a-z0-9]+", "-", values.removesuffix(".yaml").lower()).strip("-")


@pytest.mark.parametrize("values", SCENARIOS)
def test_each_profile_installs_and_every_pod_is_scheduled(cluster, values):
    rel = cluster.install(values, namespace=_slug(values))
    try:
        pods = rel.pods()
        by_component = {}
        for p in pods:
            labels = p["metadata"]["labels"]
            comp = labels.get("app.kubernetes.io/component") or labels.get("strimzi.io/kind")
            by_component.setdefault(comp, []).append(p["metadata"]["name"])
        rendered = yaml.safe_load((CHART / values).read_text()) if values != "values.yaml" \
            else {}
        if (rendered.get("generator") or {}).get("enabled", True):
            assert by_component.get("generator"), by_component
        if (rendered.get("hdfs") or {}).get("enabled", True):
            assert by_component.get("hdfs-namenode") and by_component.get("hdfs-datanode"), \
                by_component
        if (rendered.get("job") or {}).get("enabled", True):
            assert any("driver" in n for n in by_component.get("job", [])), by_component
        for p in pods:
            assert p["spec"].get("nodeName"), f"{p['metadata']['name']} was not scheduled"
            assert p["status"]["phase"] == "Running"
        # Every claim bound to a volume (the StatefulSets could start).
        for pvc in rel.get("pvc"):
            assert pvc["status"]["phase"] == "Bound", pvc["metadata"]["name"]
    finally:
        cluster.remove(rel)


def test_a_profile_that_does_not_fit_stays_pending(cluster):
    """The scheduling check can fail: executors far larger than the kind node stay Pending."""
    rel = cluster.install("values-kind.yaml", namespace="p-too-big", wait=False,
                          set={"job.executor.memory": "6g"})
    try:
        cluster.add_stand_ins(rel)
        wait_for(lambda: any("Insufficient memory" in m for m in cluster.unschedulable(rel)),
                 120, "the oversized executor reported unschedulable")
    finally:
        cluster.remove(rel)


def test_upgrade_with_changed_values(cluster):
    rel = cluster.install("values-kind.yaml", namespace="p-upgrade")
    try:
        first_driver = rel.driver_pod()["metadata"]["uid"]
        cluster.upgrade(rel, "values-kind.yaml", set={
            "generator.replicas": 3,
            "config.alerts.high_consumption_kwh": 120.0,
            "config.alerts.peak_demand_kwh": 140.0,
            "kafka.config": {"log.retention.hours": 72},
            "kafka.tls.enabled": True,
        })
        cfg = yaml.safe_load(rel.get("configmap", "ws-wattstream-config")["data"]
                             ["wattstream.yaml"])
        assert cfg["alerts"]["high_consumption_kwh"] == 120.0
        assert cfg["kafka"]["security_protocol"] == "SASL_SSL"
        kafka = rel.get("kafka", "ws-wattstream-kafka")
        assert kafka["spec"]["kafka"]["config"]["log.retention.hours"] == 72
        assert any(lst.get("authentication") for lst in kafka["spec"]["kafka"]["listeners"])
        assert rel.get("kafkauser", "wattstream-app")["spec"]["authentication"]["type"] == \
            "scram-sha-512"
        wait_for(lambda: len([p for p in rel.pods("app.kubernetes.io/component=generator")
                              if p["status"].get("phase") == "Running"]) == 3,
                 120, "three generator pods Running")
        # The operator resubmits the changed application: a new driver with the TLS mounts.
        def new_driver():
            pod = rel.driver_pod()
            return pod if pod["metadata"]["uid"] != first_driver else None

        driver = wait_for(new_driver, 240, "a new driver pod after the upgrade")
        mounts = {m["name"] for m in driver["spec"]["containers"][0]["volumeMounts"]}
        assert {"kafka-user", "kafka-ca"} <= mounts
        status = json.loads(rel.helm("status", rel.name, "-o", "json"))
        assert status["info"]["status"] == "deployed" and status["version"] == 2
    finally:
        cluster.remove(rel)


# What `helm uninstall` leaves behind, as the README says: the HDFS claims (StatefulSets never
# delete theirs; Strimzi keeps Kafka's while kafka.nodePool.storage.deleteClaim is false).
LEFT_BEHIND = re.compile(r"^data-ws-wattstream-hdfs-(namenode|datanode)-\d+$")


def test_uninstall_leaves_only_the_data_claims(cluster):
    rel = cluster.install("values.yaml", namespace="p-uninstall")
    try:
        cluster.uninstall(rel)
        kinds = cluster.cp.kubectl("api-resources", "--verbs=list", "--namespaced", "-o",
                                   "name").split()
        left = []

        def leftovers():
            left.clear()
            for kind in kinds:
                if kind.startswith("events"):
                    continue
                out = json.loads(cluster.cp.kubectl("get", kind, "-n", rel.namespace, "-o",
                                                    "json", check=False) or '{"items": []}')
                for item in out["items"]:
                    name = item["metadata"]["name"]
                    if (kind, name) in {("serviceaccounts", "default"),
                                        ("configmaps", "kube-root-ca.crt")}:
                        continue
                    left.append((kind, name))
            return all(k == "persistentvolumeclaims" for k, _ in left)

        wait_for(leftovers, 120, f"garbage collection after uninstall (left: {left})")
        assert left and all(LEFT_BEHIND.match(n) for _, n in left), left
    finally:
        cluster.remove(rel)


@pytest.mark.parametrize("release", [
    "energy-prod",                                       # 64-character Strimzi pod names before
    "r" * 53,                                            # Helm's longest release name
])
def test_long_release_names_install_or_fail_at_render_time(cluster, release):
    ns = f"p-name-{len(release)}"
    try:
        rel = cluster.install("values.yaml", namespace=ns, release=release)
    except HelmFailed as exc:
        # Only the chart's own render-time message is acceptable, never an API rejection.
        assert "execution error" in str(exc) and "fullnameOverride" in str(exc), exc
        cluster.cp.kubectl("delete", "namespace", ns, "--ignore-not-found")
        return
    try:
        # Strimzi's pod hostnames and Service names (the stand-ins carry them) were accepted.
        assert any(p["metadata"]["labels"].get("strimzi.io/pool-name") for p in rel.pods())
        assert any(s["metadata"]["name"].endswith("-kafka-brokers") for s in rel.get("services"))
    finally:
        cluster.remove(rel)


def test_an_upgrade_that_would_resize_hdfs_fails_naming_the_value(cluster):
    """kind → production changes the StatefulSets' volume claims, which Kubernetes forbids: the
    chart says which value, at render time, instead of the API server refusing the upgrade."""
    rel = cluster.install("values-kind.yaml", namespace="p-resize")
    try:
        with pytest.raises(HelmFailed, match=r"hdfs\.(namenode|datanode)\.storageSize: the "
                                             r"installed release has \d+Gi"):
            cluster.upgrade(rel, "values-production.yaml")
        # Keeping the sizes lets the rest of the production profile through.
        cluster.upgrade(rel, "values-production.yaml", set={
            "hdfs.namenode.storageSize": "1Gi", "hdfs.datanode.storageSize": "2Gi"})
        assert rel.get("statefulset", "ws-wattstream-hdfs-datanode")["spec"]["replicas"] == 3
    finally:
        cluster.remove(rel)


def test_the_report_cronjob_makes_a_pod_the_scheduler_places(cluster):
    """A run of the report CronJob, started now as `kubectl create job --from=cronjob/…`
    does: the Job controller makes its pod from the chart's template, the scheduler places it
    within the machine's size (its CPU and memory requests count), the run completes."""
    rel = cluster.install("values-production.yaml", namespace="p-report")
    try:
        (cron,) = rel.get("cronjobs")
        name = cron["metadata"]["name"]
        cluster.cp.kubectl("create", "job", f"{name[:40]}-now", f"--from=cronjob/{name}",
                           "-n", rel.namespace)
        # kwok plays the container: a pod that never restarts runs and completes at once.
        pod = wait_for(lambda: next((p for p in rel.pods(f"job-name={name[:40]}-now")
                                     if p["spec"].get("nodeName") and p["status"].get(
                                         "phase") in ("Running", "Succeeded")), None),
                       120, "the report Job's pod to be scheduled and run")
        wait_for(lambda: rel.get("jobs", f"{name[:40]}-now")["status"].get("succeeded") == 1,
                 60, "the Job controller to count the run as succeeded")
        (c,) = pod["spec"]["containers"]
        assert c["command"][-2:] == ["/opt/wattstream/job_main.py", "report"]
        assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "report"
        assert c["resources"]["requests"]["memory"] == "4Gi"
    finally:
        cluster.remove(rel)
