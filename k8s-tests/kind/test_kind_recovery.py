"""Disruptions of the deployed pipeline on kind (after test_kind_pipeline.py): a Kafka broker
restart is survived without data loss and without a new driver (the job restarts its query
in-process and its liveness probe passes while it waits), and switching TLS on closes Kafka to
unauthenticated clients while the apps carry on over TLS + SCRAM."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cluster import FULLNAME, NAMESPACE, RELEASE, wait_until

KAFKA = f"{FULLNAME}-kafka"
JOB = f"{FULLNAME}-job"
SPARK = ("sparkoperator.k8s.io", "v1beta2")
STRIMZI = ("kafka.strimzi.io", "v1")
ROOT = Path(__file__).resolve().parents[2]


def _value(prom, promql: str) -> float:
    result = prom(promql)
    return float(result[0]["value"][1]) if result else 0.0


def _processed(prom) -> float:
    return _value(prom, "sum(wattstream_readings_processed_total)")


def _ready(obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in obj.get("status", {}).get("conditions", []))


def _kafka_ready(custom) -> bool:
    return _ready(custom.get_namespaced_custom_object(*STRIMZI, NAMESPACE, "kafkas", KAFKA))


def _driver(core):
    """(uid, name, restart count of the driver container) of the job's one driver pod."""
    pods = core.list_namespaced_pod(
        NAMESPACE, label_selector=f"sparkoperator.k8s.io/app-name={JOB},spark-role=driver").items
    running = [p for p in pods if p.status.phase == "Running"]
    assert len(running) == 1, [(p.metadata.name, p.status.phase) for p in pods]
    (c,) = [c for c in running[0].status.container_statuses or []
            if c.name == "spark-kubernetes-driver"]
    return running[0].metadata.uid, running[0].metadata.name, c.restart_count


def _attempts(custom) -> tuple:
    """How often the spark-operator submitted the job (it resubmits a driver that ended)."""
    status = custom.get_namespaced_custom_object(*SPARK, NAMESPACE, "sparkapplications",
                                                 JOB).get("status", {})
    return status.get("executionAttempts"), status.get("submissionAttempts")


def _job_running(prom) -> bool:
    return _value(prom, 'max(wattstream_job_state{state="running"})') == 1


def test_a_broker_restart_loses_nothing(core, custom, prom):
    before = wait_until(lambda: _processed(prom), 600, "readings processed")
    lost_before = _value(prom, "sum(wattstream_kafka_data_loss_total)")
    wait_until(lambda: _job_running(prom), 600, "the job reporting state running")
    driver_before, attempts_before = _driver(core), _attempts(custom)
    brokers = core.list_namespaced_pod(
        NAMESPACE, label_selector=f"strimzi.io/cluster={KAFKA},strimzi.io/broker-role=true").items
    assert brokers, "no Kafka broker pods"
    old = {p.metadata.uid for p in brokers}
    for p in brokers:
        core.delete_namespaced_pod(p.metadata.name, NAMESPACE)

    def back():
        pods = core.list_namespaced_pod(
            NAMESPACE, label_selector=f"strimzi.io/cluster={KAFKA},strimzi.io/broker-role=true")
        return all(p.metadata.uid not in old and p.status.phase == "Running"
                   for p in pods.items) and pods.items and _kafka_ready(custom)

    wait_until(back, 900, "the restarted brokers Running and Kafka Ready")
    # The job and the generator reconnect and carry on; persistent storage kept the log, so
    # the job's checkpointed offsets are still valid.
    wait_until(lambda: _processed(prom) > before + 1000, 900,
               "the job processing again after the broker restart")
    assert _value(prom, "sum(wattstream_kafka_data_loss_total)") == lost_before
    # Ridden out in-process: the job says it runs again, and it is the same driver — same
    # pod, its container never restarted (liveness passed while it waited), no resubmission.
    wait_until(lambda: _job_running(prom), 600, "the job's state back to running")
    assert _driver(core) == driver_before
    assert _attempts(custom) == attempts_before


def _helm(*args: str) -> str:
    helm = sorted((ROOT / "tools").glob("helm-v*"))[-1]
    res = subprocess.run([str(helm), *args, "-n", NAMESPACE], capture_output=True, text=True,
                         timeout=600, env={**os.environ})
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_tls_closes_kafka_to_unauthenticated_clients(core, custom, prom):
    _helm("upgrade", RELEASE, str(ROOT / "charts" / "wattstream"), "--reuse-values",
          "--set", "kafka.tls.enabled=true")
    user = custom.get_namespaced_custom_object
    wait_until(lambda: _ready(user(*STRIMZI, NAMESPACE, "kafkausers", "wattstream-app")), 600,
               "the KafkaUser Ready")
    wait_until(lambda: _kafka_ready(custom), 900, "Kafka Ready with the TLS listener")

    def bootstrap_ports():
        svc = core.read_namespaced_service(f"{KAFKA}-kafka-bootstrap", NAMESPACE)
        return {p.port for p in svc.spec.ports}

    # No listener without authentication is left.
    wait_until(lambda: 9092 not in bootstrap_ports() and 9093 in bootstrap_ports(), 600,
               "the bootstrap Service serving 9093 only")
    before = _processed(prom)
    wait_until(lambda: _processed(prom) > before + 1000, 900,
               "the apps producing and processing over TLS + SCRAM")
