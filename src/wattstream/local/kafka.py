"""A single-node KRaft Kafka broker (combined broker + controller) on loopback."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from .. import kafka_client
from ..config import Config
from . import jvm
from .procs import LOOPBACK, Service, StackError, require_free, run_checked, wait_until

NAME = "kafka"

_LOG4J2 = """\
Configuration:
  name: wattstream-kafka
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka
        level: WARN
      - name: org.apache.kafka
        level: WARN
"""


def bootstrap(cfg: Config) -> str:
    return f"{LOOPBACK}:{cfg.local.kafka_port}"


def _properties(cfg: Config, data_dir: Path, scram_port: int | None) -> str:
    port, cport = cfg.local.kafka_port, cfg.local.kafka_controller_port
    listeners = f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{cport}"
    protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    scram = []
    if scram_port:
        # An extra SASL_PLAINTEXT listener with SCRAM-SHA-512, as the cluster's apps use it.
        listeners += f",SASL_PLAINTEXT://{LOOPBACK}:{scram_port}"
        protocols += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
        scram = ["sasl.enabled.mechanisms=SCRAM-SHA-512",
                 "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
                 "org.apache.kafka.common.security.scram.ScramLoginModule required;"]
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers={LOOPBACK}:{cport}",
        f"listeners={listeners}",
        f"advertised.listeners={listeners}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        f"listener.security.protocol.map={protocols}",
        *scram,
        f"log.dirs={data_dir}",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        # Topics are created explicitly with their partition counts; a typo must not create one.
        "auto.create.topics.enable=false",
        "",
    ])


def cluster_id() -> str:
    """A random KRaft cluster id. Like Kafka's own Uuid, never one starting with '-', which the
    storage tool's argument parser would take for an option."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def admin(bootstrap_servers: str, timeout_ms: int = 5000):
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms,
                            client_id="wattstream-local")


def broker_ready(bootstrap_servers: str) -> bool:
    # A plain TCP probe first: the admin client logs every refused connection as an error.
    kafka_client.reachable(bootstrap_servers)
    client = admin(bootstrap_servers, timeout_ms=3000)
    try:
        return bool(client.describe_cluster().get("brokers"))
    finally:
        client.close()


def create_topics(cfg: Config, bootstrap_servers: str) -> list[str]:
    """Create the readings, alerts, dead-letter and weather topics if missing; return those
    created."""
    from kafka.admin import NewTopic

    k = cfg.kafka
    wanted = {
        k.readings_topic: k.partitions,
        k.alerts_topic: max(1, min(k.partitions, 3)),
        k.dead_letter_topic: 1,
    }
    if k.weather_topic:
        wanted[k.weather_topic] = 1  # a few observations per site and hour
    client = admin(bootstrap_servers)
    try:
        existing = set(client.list_topics())
        new = [NewTopic(name, parts, k.replication_factor)
               for name, parts in wanted.items() if name not in existing]
        if new:
            client.create_topics(new)
        return [t.name for t in new]
    finally:
        client.close()


def service(run_dir: Path) -> Service:
    return Service(NAME, run_dir)


def start(cfg: Config, run_dir: Path, scram_users: dict[str, str] | None = None,
          scram_port: int | None = None) -> Service:
    """Format storage on first use, start the broker, wait until it answers, create topics.

    With `scram_port`, the broker also serves SASL_PLAINTEXT/SCRAM-SHA-512 there, for the
    `scram_users` ({name: password}) created at format time."""
    svc = service(run_dir)
    addr = bootstrap(cfg)
    if svc.running():
        wait_until(lambda: broker_ready(addr), cfg.local.start_timeout_seconds, "kafka")
        create_topics(cfg, addr)
        return svc
    svc.stop()  # clears a stale pid file
    require_free({"kafka": cfg.local.kafka_port,
                  "kafka controller": cfg.local.kafka_controller_port})
    home = Path(run_dir) / "kafka"
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"
    props.write_text(_properties(cfg, data, scram_port))
    log4j = home / "log4j2.yaml"
    log4j.write_text(_LOG4J2)
    java = jvm.java()
    cp = jvm.classpath("kafka")
    jopts = [f"-Dlog4j2.configurationFile={log4j}", "-Xms256m", "-Xmx768m"]
    if not (data / "meta.properties").exists():
        run_checked([java, *jopts, "-cp", cp, "kafka.tools.StorageTool", "format",
                     "-t", cluster_id(), "-c", str(props), "--standalone",
                     *[a for name, pw in (scram_users or {}).items()
                       for a in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={pw}]")]],
                    "kafka storage format", svc.log_file)
    svc.start([java, *jopts, "-cp", cp, "kafka.Kafka", str(props)])
    try:
        wait_until(lambda: broker_ready(addr), cfg.local.start_timeout_seconds, "kafka",
                   alive=svc.running)
        create_topics(cfg, addr)
    except StackError as exc:
        tail = svc.log_tail()
        svc.stop()
        raise StackError(f"{exc}; end of {svc.log_file}:\n{tail}") from None
    return svc


def healthy(cfg: Config) -> bool:
    try:
        return broker_ready(bootstrap(cfg))
    except Exception:  # noqa: BLE001
        return False
