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
             "datanode_port", "datanode_http_port", "datanode_ipc_port", "prometheus_port"]
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
