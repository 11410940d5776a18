"""A kafka-python producer set up not to lose readings, with exact accounting of what was
acknowledged.

- `acks="all"` and idempotence (kafka-python 3 supports it: retries cannot duplicate or reorder
  a partition's records), unlimited retries bounded by `delivery_timeout_ms`.
- Bounded buffering: kafka-python 3 has no `buffer.memory`, so at most
  `generator.max_pending_records` records may be unacknowledged; `send` blocks beyond that.
- Connecting and the topic's metadata are waited for at most `generator.connect_timeout_seconds`;
  then `WattstreamError` (the CLI exits 1) instead of hanging.
- The partition of each key is computed once with the client's own partitioner (murmur2, as the
  Java client), so a building's readings stay ordered in one partition.
- `latest_reading` reads the last reading of each partition back: the demo continues the
  event time a running fleet has reached rather than fall behind the job's watermark.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime

from .. import kafka_client
from ..config import Config
from ..errors import WattstreamError
from ..schema import parse_timestamp
from .metrics import GeneratorMetrics

log = logging.getLogger(__name__)


class ReadingProducer:
    def __init__(self, cfg: Config, metrics: GeneratorMetrics, client_id: str = "wattstream-gen"):
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        g = cfg.generator
        self.kafka_cfg = cfg.kafka
        self.topic = cfg.kafka.readings_topic
        self.timeout_s = g.connect_timeout_seconds
        self.metrics = metrics
        self.max_pending = g.max_pending_records
        timeout_ms = int(g.connect_timeout_seconds * 1000)
        servers = cfg.kafka.bootstrap_servers
        compression = None if g.compression == "none" else g.compression
        try:
            self._p = KafkaProducer(
                bootstrap_servers=servers.split(","),
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                retries=2**31 - 1,
                delivery_timeout_ms=max(g.delivery_timeout_seconds * 1000, 1000),
                request_timeout_ms=min(30_000, max(g.delivery_timeout_seconds * 1000 - 1, 500)),
                linger_ms=g.linger_ms,
                batch_size=g.batch_size_bytes,
                compression_type=compression,
                max_in_flight_requests_per_connection=5,
                max_block_ms=timeout_ms,
                bootstrap_timeout_ms=timeout_ms,
                allow_auto_create_topics=False,
                metrics_enabled=False,  # the client's own sensors: unused, cost per batch
                **kafka_client.python_kwargs(cfg.kafka),
            )
        except KafkaError as exc:
            raise WattstreamError(
                f"cannot reach Kafka at {servers} within {g.connect_timeout_seconds:g} s "
                f"({type(exc).__name__}): is the broker up (`wattstream local up`) and "
                f"kafka.bootstrap_servers right?") from None
        try:
            parts = self._p.partitions_for(self.topic)
        except KafkaError:
            parts = None
        if not parts:
            self._p.close(timeout=1)
            raise WattstreamError(
                f"topic {self.topic!r} not found on {servers} within "
                f"{g.connect_timeout_seconds:g} s: create it (`wattstream local up` does) or fix "
                f"kafka.readings_topic")
        self._all_partitions = sorted(parts)
        self._partition_cache: dict[bytes, int] = {}
        self._cond = threading.Condition()
        self.sent = 0  # handed to the client
        self.acked = 0
        self.failed = 0
        self.first_error: str | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        return self.sent - self.acked - self.failed

    def partition(self, key: bytes) -> int:
        p = self._partition_cache.get(key)
        if p is None:
            p = self._p._partition(self.topic, None, key, None, key, None)
            self._partition_cache[key] = p
        return p

    def _ok(self, t0: float, _metadata) -> None:
        self.metrics.sent.inc()
        self.metrics.latency.observe(time.perf_counter() - t0)
        with self._cond:
            self.acked += 1
            if self.pending < self.max_pending:
                self._cond.notify()

    def _err(self, exc: BaseException) -> None:
        self.metrics.errors.inc()
        with self._cond:
            self.failed += 1
            if self.first_error is None:
                self.first_error = f"{type(exc).__name__}: {exc}"
                log.error("send failed: %s", self.first_error)
            self._cond.notify()

    def _wait_for_room(self, room: int) -> None:
        if self.pending + room <= self.max_pending:
            return
        deadline = time.monotonic() + 120
        with self._cond:
            while self.pending + room > self.max_pending and self.pending > 0:
                if not self._cond.wait(timeout=max(0.0, deadline - time.monotonic())):
                    raise WattstreamError(
                        f"Kafka acknowledged nothing for 120 s with {self.pending} readings "
                        f"pending: is the broker still up?")

    def send_many(self, keys: list[bytes], values: list[bytes]) -> None:
        """Hand a batch to the client (blocking while the pending bound is reached)."""
        from kafka.errors import KafkaError

        self._wait_for_room(min(len(values), self.max_pending))
        send, topic, part = self._p.send, self.topic, self.partition
        t0 = time.perf_counter()
        ok, err = self._ok, self._err
        for key, value in zip(keys, values, strict=True):
            try:
                fut = send(topic, value=value, key=key, partition=part(key))
            except KafkaError as exc:
                raise WattstreamError(f"Kafka rejected a reading: {type(exc).__name__}: {exc}") \
                    from None
            self.sent += 1
            fut.add_callback(ok, t0)
            fut.add_errback(err)

    def send_weather(self, obs) -> None:
        """One site weather observation (`schema.Weather`) to the weather topic, keyed by
        site; acknowledged with the readings (a failure counts as a send error)."""
        from kafka.errors import KafkaError

        topic = self.kafka_cfg.weather_topic
        if not topic:
            raise WattstreamError("generator.weather_site needs kafka.weather_topic")
        try:
            fut = self._p.send(topic, value=obs.to_json(), key=obs.site.encode())
        except KafkaError as exc:
            raise WattstreamError(f"Kafka rejected a weather observation: "
                                  f"{type(exc).__name__}: {exc}") from None
        fut.add_errback(self._err)

    def latest_reading(self) -> tuple[datetime, float] | None:
        """The latest timestamp among the last readings of the topic's partitions, with the
        Kafka timestamp (unix seconds) of the newest of those readings, which tells whether
        anyone still sends; None for an empty topic, or when the tail cannot be read within
        the connect timeout."""
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError

        latest, sent = None, 0.0
        try:
            consumer = KafkaConsumer(bootstrap_servers=self.kafka_cfg.bootstrap_servers.split(","),
                                     group_id=None, enable_auto_commit=False,
                                     **kafka_client.python_kwargs(self.kafka_cfg))
        except KafkaError as exc:
            log.warning("cannot read the tail of %s: %s", self.topic, exc)
            return None
        try:
            parts = [TopicPartition(self.topic, p) for p in self._all_partitions]
            consumer.assign(parts)
            begin, end = consumer.beginning_offsets(parts), consumer.end_offsets(parts)
            waiting = {tp for tp in parts if end[tp] > begin[tp]}
            for tp in waiting:
                consumer.seek(tp, end[tp] - 1)
            deadline = time.monotonic() + self.timeout_s
            while waiting and time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=500).items():
                    waiting.discard(tp)
                    for rec in records:
                        try:
                            ts = parse_timestamp(json.loads(rec.value)["timestamp"])
                        except (ValueError, KeyError, TypeError):
                            continue  # not a reading: the job quarantines it, nothing to follow
                        latest = ts if latest is None else max(latest, ts)
                        sent = max(sent, rec.timestamp / 1000.0)
        except KafkaError as exc:
            log.warning("cannot read the tail of %s: %s", self.topic, exc)
        finally:
            consumer.close()
        return None if latest is None else (latest, sent)

    def close(self, timeout: float = 60.0) -> None:
        """Flush everything handed over (waiting at most `timeout`), then close."""
        if self._closed:
            return
        self._closed = True
        from kafka.errors import KafkaError

        try:
            self._p.flush(timeout=timeout)
        except KafkaError as exc:
            log.error("flush did not complete within %.0f s: %s", timeout, exc)
        self._p.close(timeout=5)
