"""Session-scoped real services, started through the same code as `wattstream local up`, on free
ports in a temporary folder, and stopped by pid afterwards.

    def test_x(kafka_cfg):            # a Config whose kafka.bootstrap_servers is a live broker
    def test_y(hdfs_cfg):             # ... whose storage URIs point at a live hdfs://
    def test_z(prometheus_service):   # a running Prometheus (see PrometheusHandle)
    def test_a(alertmanager_service): # a running Alertmanager and its webhook receiver
    def test_s(spark):                # the session's SparkSession
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wattstream.config import Config
from wattstream.local import alertmanager, hdfs, kafka, prometheus
from wattstream.local.procs import free_port, free_ports

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def spark():
    """One SparkSession for the whole test session (Spark start-up costs ~10 s on 2 cores)."""
    from wattstream import spark as session

    cfg = Config().replace(job={"shuffle_partitions": 2})
    s = session.build(cfg, app_name="wattstream-tests", ui=False,
                      extra={"spark.sql.streaming.minBatchesToRetain": "5",
                             "spark.default.parallelism": "2"})
    yield s
    s.stop()


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def local_cfg(stack_dir) -> Config:
    """A config whose local ports are all free, with data under a temporary folder."""
    names = ["kafka_port", "kafka_controller_port", "hdfs_port", "hdfs_http_port",
             "datanode_port", "datanode_http_port", "datanode_ipc_port", "prometheus_port",
             "alertmanager_port", "receiver_port", "job_port", "generator_port"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    return Config().replace(
        local={"run_dir": str(stack_dir), **{k: ports[k] for k in names[:-2]}},
        storage={
            "uri": (stack_dir / "warehouse").as_uri(),
            "checkpoint_uri": (stack_dir / "checkpoints").as_uri(),
        },
        metrics={"job_port": ports["job_port"], "generator_port": ports["generator_port"]},
    )


@pytest.fixture(scope="session")
def kafka_service(local_cfg, stack_dir):
    svc = kafka.start(local_cfg, stack_dir)
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def kafka_cfg(local_cfg, kafka_service) -> Config:
    """`local_cfg` pointing at the live broker (topics created)."""
    return local_cfg.replace(kafka={"bootstrap_servers": kafka.bootstrap(local_cfg)})


@pytest.fixture
def unique_topics(kafka_cfg, request) -> Config:
    """`kafka_cfg` with fresh topics for one test, so tests never see each other's messages."""
    suffix = f"{request.node.name[:60]}-{os.getpid()}-{free_port()}"
    suffix = "".join(c if c.isalnum() or c in "._-" else "_" for c in suffix)
    cfg = kafka_cfg.replace(kafka={
        "readings_topic": f"readings.{suffix}",
        "alerts_topic": f"alerts.{suffix}",
        "dead_letter_topic": f"dlq.{suffix}",
        "weather_topic": f"weather.{suffix}",
    })
    kafka.create_topics(cfg, cfg.kafka.bootstrap_servers)
    return cfg


@pytest.fixture(scope="session")
def hdfs_services(local_cfg, stack_dir):
    nn, dn = hdfs.start(local_cfg, stack_dir)
    yield nn, dn
    dn.stop()
    nn.stop()


@pytest.fixture(scope="session")
def hdfs_cfg(local_cfg, hdfs_services) -> Config:
    """`local_cfg` with storage and checkpoints on the live single-node HDFS."""
    root = hdfs.uri(local_cfg)
    return local_cfg.replace(storage={"uri": f"{root}/wattstream/warehouse",
                                      "checkpoint_uri": f"{root}/wattstream/checkpoints"})


@pytest.fixture(scope="session")
def prometheus_service(local_cfg, stack_dir):
    """A live Prometheus; add scrape targets with `prometheus.register_target(stack_dir, …)` and
    query with `prometheus.query(local_cfg, promql)`."""
    svc = prometheus.start(local_cfg, stack_dir)
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def alertmanager_service(local_cfg, stack_dir):
    """A live Alertmanager routing to the local webhook receiver (`local/alertmanager.py`);
    what reached the receiver: `alertmanager.received(stack_dir)`."""
    alertmanager.start(local_cfg, stack_dir)
    yield local_cfg
    for svc in alertmanager.services(stack_dir):
        svc.stop()
