"""Cheap checks that a dependency of the job answers, for the supervisor (`supervise`): each
raises when it does not. They are asked while the job waits out an outage, so they must fail
within seconds, never hang on a client's default minute-long timeouts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from urllib.parse import urlparse

from .. import kafka_client, layout
from ..config import Config, resolve_uri
from ..files import Files
from . import faults

TIMEOUT_MS = 5000


def kafka(cfg: Config) -> Callable[[], None]:
    """The brokers answer and hold every topic the job reads or writes."""
    from .weather import source_topics

    k = cfg.kafka
    wanted = set(source_topics(cfg)) | {k.alerts_topic, k.dead_letter_topic}

    servers = k.bootstrap_servers.split(",")

    def probe() -> None:
        from kafka import KafkaAdminClient

        kafka_client.reachable(k.bootstrap_servers)  # refused: at once, not after a bootstrap
        client = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=TIMEOUT_MS,
                                  bootstrap_timeout_ms=TIMEOUT_MS, client_id="wattstream-probe",
                                  **kafka_client.python_kwargs(k))
        try:
            missing = wanted - set(client.list_topics())
        finally:
            client.close()
        if missing:
            raise RuntimeError(f"topic(s) missing: {', '.join(sorted(missing))}")

    return probe


def storage(cfg: Config, files: Files) -> Callable[[], None]:
    """A small file written, read and deleted under the checkpoint root: the NameNode and a
    DataNode (or the local path) take writes again."""
    root = layout.checkpoint(cfg, "_probe")

    def probe() -> None:
        uri = f"{root}/{uuid.uuid4().hex}"
        files.write(uri, b"ok")
        try:
            if files.read(uri) != b"ok":
                raise OSError(f"{uri}: read back differs")
        finally:
            files.delete(uri)

    return probe


def storage_reason(cfg: Config) -> str:
    """Which dependency the storage is: hdfs for hdfs:// URIs, else the storage path."""
    schemes = {urlparse(resolve_uri(u)).scheme
               for u in (cfg.storage.uri, cfg.storage.checkpoint_uri)}
    return faults.HDFS if "hdfs" in schemes else faults.STORAGE


def all_of(cfg: Config, files: Files) -> dict[str, Callable[[], None]]:
    return {faults.KAFKA: kafka(cfg), storage_reason(cfg): storage(cfg, files)}
