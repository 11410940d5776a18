"""Services of a fault test's own, which it may stop and start again: a broker (and an HDFS)
on fresh ports in the test's folder, never the session's shared ones.

    broker = PrivateKafka(tmp_path)        # started; broker.cfg points at it, topics made
    broker.stop(); ...; broker.start()     # an outage, with the data kept
    broker.close()                         # at the end (by pid)
"""

from __future__ import annotations

from pathlib import Path

from wattstream.config import Config
from wattstream.local import hdfs, kafka
from wattstream.local.procs import free_ports


def private_cfg(run_dir: Path, base: Config | None = None) -> Config:
    """A config whose local services use free ports and live under `run_dir`."""
    names = ["kafka_port", "kafka_controller_port", "hdfs_port", "hdfs_http_port",
             "datanode_port", "datanode_http_port", "datanode_ipc_port", "prometheus_port",
             "alertmanager_port", "receiver_port"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    cfg = (base or Config()).replace(local={"run_dir": str(run_dir), **ports})
    return cfg.replace(kafka={"bootstrap_servers": kafka.bootstrap(cfg)})


class PrivateKafka:
    """A single-node KRaft broker of one test: `stop` and `start` keep its log directory."""

    def __init__(self, run_dir: Path, base: Config | None = None):
        self.dir = Path(run_dir)
        self.cfg = private_cfg(self.dir, base)
        self.service = None
        self.start()

    def start(self) -> None:
        self.service = kafka.start(self.cfg, self.dir)

    def stop(self) -> None:
        kafka.service(self.dir).stop()

    def kill9(self) -> None:
        import os
        import signal

        svc = kafka.service(self.dir)
        if svc.pid:
            os.killpg(svc.pid, signal.SIGKILL)
        svc.stop()

    def create_topics(self, cfg: Config) -> None:
        kafka.create_topics(cfg, self.cfg.kafka.bootstrap_servers)

    def close(self) -> None:
        self.stop()


class PrivateHdfs:
    """A single-node HDFS (NameNode and DataNode) of one test, each stoppable on its own."""

    def __init__(self, run_dir: Path, base: Config | None = None):
        self.dir = Path(run_dir)
        self.cfg = private_cfg(self.dir, base)
        hdfs.start(self.cfg, self.dir)
        self.namenode, self.datanode = hdfs.services(self.dir)

    @property
    def uri(self) -> str:
        return hdfs.uri(self.cfg)

    def start_namenode(self) -> None:
        hdfs.start_namenode(self.cfg, self.dir)

    def start_datanode(self) -> None:
        hdfs.start_datanode(self.cfg, self.dir)

    def close(self) -> None:
        self.datanode.stop()
        self.namenode.stop()


class Feeder:
    """Readings of `buildings` at wall-clock event time, one per building every `interval` s,
    from a thread, through a producer that keeps retrying while the broker is away (so a
    reading is acknowledged once, late, rather than lost); `acked` counts acknowledgements.
    Each reading is `energy` kWh: 15 kWh every 5 s passes both alert thresholds every
    5-minute window."""

    def __init__(self, cfg: Config, buildings: int = 4, interval: float = 1.0,
                 energy: float = 15.0, prefix: str = "b"):
        import threading

        from kafka import KafkaProducer

        self.cfg, self.interval, self.energy = cfg, interval, energy
        self.ids = [f"{prefix}-{i}" for i in range(buildings)]
        self.producer = KafkaProducer(
            bootstrap_servers=cfg.kafka.bootstrap_servers, acks="all", linger_ms=20,
            enable_idempotence=True, retries=2**31 - 1, delivery_timeout_ms=3_600_000,
            request_timeout_ms=10_000, max_block_ms=3_600_000)
        self.sent = self.acked = self.failed = 0
        self.last_event = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)
        self._thread.start()

    def _ok(self, _meta) -> None:
        self.acked += 1

    def _err(self, _exc) -> None:
        self.failed += 1

    def _run(self) -> None:
        import json
        import time
        from datetime import UTC, datetime

        from wattstream.schema import format_timestamp

        while not self._stop.is_set():
            ts = datetime.now(UTC)
            for b in self.ids:
                r = {"timestamp": format_timestamp(ts), "building_id": b,
                     "energy_kwh": self.energy, "temperature": 10.0, "humidity": 50.0,
                     "occupancy": 5, "day_of_week": ts.weekday(), "hour": ts.hour}
                f = self.producer.send(self.cfg.kafka.readings_topic, key=b.encode(),
                                       value=json.dumps(r).encode())
                f.add_callback(self._ok)
                f.add_errback(self._err)
                self.sent += 1
            self.last_event = ts
            self._stop.wait(max(0.0, self.interval - (time.time() - ts.timestamp())))

    def stop(self, timeout: float = 300) -> None:
        """Stop sending; wait until every reading sent is acknowledged (or failed)."""
        self._stop.set()
        self._thread.join(30)
        self.producer.flush(timeout)
        self.producer.close(10)
        assert self.failed == 0, f"{self.failed} readings failed to send"
        assert self.acked == self.sent, f"{self.sent - self.acked} readings unacknowledged"


def topic_values(cfg: Config, topic: str, timeout: float = 60.0) -> list[dict]:
    """Every record of `topic`, JSON-decoded (the readings Kafka acknowledged, once each)."""
    import json

    from gen_kafka_util import consume_all

    return [json.loads(r.value) for r in consume_all(cfg, timeout, topic)]
