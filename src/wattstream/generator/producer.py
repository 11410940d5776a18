"""A kafka-python producer that loses no reading while Kafka is away, with exact accounting.

- `acks="all"`, idempotence (retries neither duplicate nor reorder a partition's records),
  unlimited retries and no delivery timeout: the client never expires a record.
- Memory tier: at most `generator.max_pending_records` records are in the client unacknowledged;
  a copy of each (insertion-ordered by a sequence number) is kept until Kafka acknowledges it,
  so what is unacknowledged at exit is known, in order.
- Disk tier (`spool.py`, `generator.spool_dir`, `generator.spool_max_bytes`): in realtime mode a
  record goes to the spool's tail when the client is full or the spool holds records (order is
  kept); a drainer thread moves records from the spool's head into the client as
  acknowledgements free room. Backfill and replay (`block=True`) wait for room instead, as long
  as Kafka is away, logging a line every 30 s.
- The bound counts the spool's files and the unacknowledged records that did not come from it
  (they go to the spool at exit): spool full is `SpoolFull` (the generator stops, exit 1).
- `close`: flush for at most `CLOSE_FLUSH_SECONDS`, then every unacknowledged record goes back
  to the spool (the ones older than its content at its head), in order. A record the client
  reports failed (a non-retriable error) is kept the same way and the next send raises.
- The next start (any mode) sends the spool first (`drained` readings), before new readings.
- Connecting and the topic's metadata are waited for at most `generator.connect_timeout_seconds`
  at start (the partition of a key needs the metadata); then `WattstreamError` (exit 1).
- The partition of each key is computed once with the client's own partitioner (murmur2, as the
  Java client), so a building's readings stay ordered in one partition.
- `latest_reading` reads the last reading of each partition back: the demo continues the
  event time a running fleet has reached rather than fall behind the job's watermark.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import threading
import time
from datetime import datetime
from pathlib import Path

from .. import kafka_client
from ..config import Config
from ..errors import WattstreamError
from ..schema import parse_timestamp
from .metrics import GeneratorMetrics
from .spool import (
    INDEX,
    KEY,
    KIND,
    OTHER,
    OVERHEAD,
    READING,
    TOPIC,
    TS_MS,
    VALUE,
    Spool,
    SpoolFull,
    SpoolRecord,
    size_of,
)

log = logging.getLogger(__name__)

CLOSE_FLUSH_SECONDS = 10.0  # at exit, wait this long for acknowledgements, then spool the rest
DRAIN_CHUNK = 1000  # records moved from the spool into the client at a time
HOUSEKEEPING_S = 1.0  # release acknowledged spool records, fsync, write head.json
QUIET_LOG_S = 30.0  # "Kafka unreachable since ..." every this often
RECONNECT_BACKOFF_MAX_MS = 5000  # a returning broker is found within ~5 s
PROGRESS_S = 5.0  # a full spool stops the generator once Kafka acknowledged nothing this long
# The send path makes several objects per reading (the client's futures and batches, the copies
# kept until acknowledged) and up to max_pending_records of them live at once; at the default
# threshold (700) the cyclic GC scans them again and again: -20 to -30 % readings/s measured.
# They form no cycles (reference counting frees them), so collections can be rare.
GC_GEN0_THRESHOLD = 50_000


def spool_path(cfg: Config, replica: str) -> Path:
    if cfg.generator.spool_dir:
        return Path(cfg.generator.spool_dir)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", replica) or "r0"
    return Path(cfg.local.run_dir) / "spool" / safe


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%H:%M:%S")


class ReadingProducer:
    def __init__(self, cfg: Config, metrics: GeneratorMetrics, client_id: str = "wattstream-gen",
                 *, block: bool = True, stop: threading.Event | None = None,
                 replica: str | None = None, weather: bool = False):
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        g = cfg.generator
        gen0, gen1, gen2 = gc.get_threshold()
        if 0 < gen0 < GC_GEN0_THRESHOLD:
            gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
        self.kafka_cfg = cfg.kafka
        self.topic = cfg.kafka.readings_topic
        self.timeout_s = g.connect_timeout_seconds
        self.metrics = metrics
        self.max_pending = g.max_pending_records
        self.block = block
        self._stop = stop or threading.Event()
        self.spool = Spool(spool_path(cfg, replica or metrics.replica), g.spool_max_bytes)
        self.drained = self.spool.readings  # taken over from an earlier run
        metrics.watch_spool(self.spool)
        timeout_ms = int(g.connect_timeout_seconds * 1000)
        servers = cfg.kafka.bootstrap_servers
        compression = None if g.compression == "none" else g.compression
        try:
            try:
                self._p = KafkaProducer(
                    bootstrap_servers=servers.split(","),
                    client_id=client_id,
                    acks="all",
                    enable_idempotence=True,
                    retries=float("inf"),
                    delivery_timeout_ms=float("inf"),  # never expire a record
                    request_timeout_ms=30_000,
                    reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
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
            topics = [self.topic] + ([cfg.kafka.weather_topic]
                                     if weather and cfg.kafka.weather_topic else [])
            for topic in topics:
                try:
                    parts = self._p.partitions_for(topic)
                except KafkaError:
                    parts = None
                if not parts:
                    self._p.close(timeout=1)
                    raise WattstreamError(
                        f"topic {topic!r} not found on {servers} within "
                        f"{g.connect_timeout_seconds:g} s: create it (`wattstream local up` "
                        f"does) or fix kafka.{'readings' if topic == self.topic else 'weather'}"
                        f"_topic")
                if topic == self.topic:
                    self._all_partitions = sorted(parts)
        except BaseException:
            self.spool.close()
            raise
        self._partition_cache: dict[bytes, int] = {}
        self._cond = threading.Condition()  # counters and waits; callbacks take only this
        self._order = threading.Lock()  # "spool empty?" + handing over, atomic for the drainer
        self._unacked: dict[int, SpoolRecord] = {}  # seq -> record, in the order handed over
        self._from_spool: dict[int, int] = {}  # seq -> spool index, of those read from the spool
        self._last_sent_index = -1
        self._dead: set[int] = set()  # unacknowledged seqs that will never complete (failed)
        self._acked_offsets: dict[tuple[str, int], int] = {}  # highest acknowledged offset
        self._found: set[tuple[str, bytes | None, bytes]] = set()  # spooled, already in Kafka
        self._uncertain_left = 0  # head records of an earlier run not yet checked here
        self._uncertain_marker: dict = {}
        self.already_in_kafka = 0  # readings of the spool found already in Kafka: not resent
        self._direct_bytes = 0  # spool size of unacknowledged records not from the spool
        self._seq = 0
        self._wake_level = -1  # notify waiters when at most this many records are unacknowledged
        self.produced = 0  # readings accepted by send_many (acknowledged or spooled in the end)
        self.acked = 0
        self.failed = 0
        self.spooled = self.spool.readings  # readings in the spool (final after close)
        self.spooled_max = self.spooled  # the most readings the spool held
        self.first_error: str | None = None
        self._quiet_since = time.time()  # the last acknowledgement (or send after an idle time)
        self._last_ack = time.monotonic()  # ... or the connection at start
        self._spooling = False
        self._closing = False
        self._closed = False
        self._stopped_draining = False
        if self.spool.records:
            log.info("spool %s holds %d readings (%d records) of an earlier run: they are sent "
                     "first", self.spool.path, self.spool.readings, self.spool.records)
            self._spooling = True
            self._reconcile()
        self._drainer = threading.Thread(target=self._drain_loop, name="wattstream-spool",
                                         daemon=True)
        self._drainer.start()

    @property
    def pending(self) -> int:
        """Records the client holds unacknowledged."""
        return len(self._unacked)

    def partition(self, key: bytes) -> int:
        p = self._partition_cache.get(key)
        if p is None:
            p = self._p._partition(self.topic, None, key, None, key, None)
            self._partition_cache[key] = p
        return p

    # -- callbacks (the client's I/O thread: never block, never touch files) -------------------

    def _ok(self, seq: int, t0: float, metadata) -> None:
        with self._cond:
            r = self._unacked.pop(seq, None)
            if r is None:
                return
            if self._from_spool.pop(seq, None) is None:
                self._direct_bytes -= size_of(r)
            elif not self._from_spool:
                self._wake()
            if r[KIND] == READING:
                self.acked += 1
                self.metrics.sent.inc()
                self.metrics.latency.observe(time.perf_counter() - t0)
            tp = (r[TOPIC], metadata.partition)
            if metadata.offset > self._acked_offsets.get(tp, -1):
                self._acked_offsets[tp] = metadata.offset
            self._quiet_since = time.time()
            self._last_ack = time.monotonic()
            if len(self._unacked) <= self._wake_level:
                self._wake()

    def _err(self, seq: int, exc: BaseException) -> None:
        if self._closing:  # aborted by close: the record goes to the spool
            return
        with self._cond:
            r = self._unacked.get(seq)  # kept: it goes back to the spool at close
            self._dead.add(seq)
            if r is not None and r[KIND] == READING:
                self.failed += 1
            self.metrics.errors.inc()
            self._set_error(f"{type(exc).__name__}: {exc}")
            self._wake()

    def _set_error(self, message: str) -> None:
        if self.first_error is None:
            self.first_error = message
            log.error("send failed: %s; the generator stops, every unacknowledged reading goes "
                      "to the spool %s", message, self.spool.path)

    def _wake(self) -> None:
        self._wake_level = -1
        self._cond.notify_all()

    def _wait(self, level: int, timeout: float) -> None:
        """Wait (holding _cond) until at most `level` records are unacknowledged, something
        is notified, or `timeout`."""
        self._wake_level = max(self._wake_level, level)
        self._cond.wait(timeout)

    def _raise_if_failed(self) -> None:
        if self.first_error is not None:
            raise WattstreamError(f"sending stopped: {self.first_error}")

    # -- handing over ----------------------------------------------------------------------

    def _in_flight(self) -> int:
        """Records handed to the client that may still be acknowledged."""
        return len(self._unacked) - len(self._dead)

    def _spool_empty(self) -> bool:
        """Nothing unread in the spool and nothing read from it still unacknowledged: only then
        may a new record go to the client directly (it stays behind everything spooled).
        Exact only under _order (the drainer reads and hands over under it)."""
        return not self.spool.unread and not self._from_spool

    def _settle(self) -> bool:
        """`_spool_empty`, releasing what Kafka acknowledged of the spool (holding _order)."""
        if not self._spool_empty():
            return False
        if self.spool.records:
            self.spool.release()
        return True

    def _room_for(self, recs: list[SpoolRecord], total: int | None = None) -> tuple[int, int]:
        """How many of `recs` (a prefix) the client may take now, and their bytes (`total`:
        the bytes of all of `recs`, when known)."""
        room = min(self.max_pending - len(self._unacked), len(recs))
        if room <= 0:
            return 0, 0
        avail = self.spool.max_bytes - self.spool.bytes - self._direct_bytes
        if total is not None and room == len(recs) and total <= avail:
            return room, total
        sizes = [size_of(r) for r in recs[:room]]
        total = sum(sizes)
        if total <= avail:
            return room, total
        total = 0
        for i, size in enumerate(sizes):
            if total + size > avail:
                return i, total
            total += size
        return room, total

    def _hand_over(self, recs: list[SpoolRecord], from_spool: bool, nbytes: int = 0) -> None:
        """Give records to the client, each kept until acknowledged (the caller holds _order)."""
        from kafka.errors import KafkaError

        send, readings, part = self._p.send, self.topic, self.partition
        ok, err = self._ok, self._err
        unacked, spooled = self._unacked, self._from_spool
        with self._cond:
            if not unacked:
                self._quiet_since = time.time()
            self._direct_bytes += nbytes
        t0 = time.perf_counter()
        for i, r in enumerate(recs):
            seq = self._seq
            self._seq = seq + 1
            unacked[seq] = r
            if from_spool:
                spooled[seq] = r[INDEX]
                self._last_sent_index = r[INDEX]
            try:
                fut = send(r[TOPIC], value=r[VALUE], key=r[KEY], timestamp_ms=r[TS_MS],
                           partition=part(r[KEY]) if r[TOPIC] == readings else None)
            except KafkaError as exc:
                self._dead.add(seq)
                for rest in recs[i + 1:]:  # kept in order for the spool, never sent
                    seq = self._seq
                    self._seq = seq + 1
                    unacked[seq] = rest
                    self._dead.add(seq)
                    if from_spool:
                        spooled[seq] = rest[INDEX]
                        self._last_sent_index = rest[INDEX]
                with self._cond:
                    self._set_error(f"{type(exc).__name__}: {exc}")
                raise WattstreamError(f"Kafka rejected a record: {type(exc).__name__}: "
                                      f"{exc}") from None
            fut.add_callback(ok, seq, t0)
            fut.add_errback(err, seq)

    def _to_spool(self, recs: list[SpoolRecord]) -> None:
        """Append at the spool's tail (the caller holds _order); SpoolFull when it cannot."""
        self.spool.append(recs, reserve=self._direct_bytes)
        self.spooled_max = max(self.spooled_max, self.spool.readings)
        if not self._spooling:
            self._spooling = True
            log.warning("Kafka holds %d records unacknowledged: new readings go to the spool %s "
                        "until it acknowledges them", len(self._unacked), self.spool.path)
        with self._cond:
            self._cond.notify_all()

    def send_many(self, keys: list[bytes], values: list[bytes]) -> None:
        """Readings of one step: all accepted (in the client or the spool) or SpoolFull /
        WattstreamError. Realtime never waits for Kafka; backfill and replay wait for room."""
        ts = int(time.time() * 1000)
        topic = self.topic
        total = (len(values) * (OVERHEAD + len(topic)) + sum(map(len, keys))
                 + sum(map(len, values)))
        self._submit([(READING, ts, topic, k, v, -1) for k, v in zip(keys, values, strict=True)],
                     total)

    def send_weather(self, obs) -> None:
        """One site weather observation (`schema.Weather`) to the weather topic, keyed by
        site; kept and spooled as readings are (not counted as readings)."""
        topic = self.kafka_cfg.weather_topic
        if not topic:
            raise WattstreamError("generator.weather_site needs kafka.weather_topic")
        self._submit([(OTHER, int(time.time() * 1000), topic, obs.site.encode(), obs.to_json(),
                       -1)])

    def _submit(self, recs: list[SpoolRecord], total: int | None = None) -> None:
        self._raise_if_failed()
        if not recs:
            return
        if self.block:
            self._submit_blocking(recs, total)
            return
        waited = False
        while recs:
            with self._order:
                take, nbytes = self._room_for(recs, total) if self._settle() else (0, 0)
                total = None
                if take:
                    self.produced += _readings(recs[:take])
                    self._hand_over(recs[:take], False, nbytes)
                    recs = recs[take:]
                if not recs:
                    break
                try:
                    self._to_spool(recs)
                    self.produced += _readings(recs)
                    break
                except SpoolFull:
                    # Full while Kafka takes records (the spool drains): wait for room, the
                    # readings go late with their true event time. Full while Kafka is away:
                    # stop.
                    if time.monotonic() - self._last_ack >= PROGRESS_S:
                        raise
                    if not waited:
                        log.warning("spool %s full while Kafka drains it: waiting for room",
                                    self.spool.path)
                    waited = True
            with self._cond:
                self._raise_if_failed()
                self._wait(len(self._unacked) // 2, timeout=0.2)

    def _submit_blocking(self, recs: list[SpoolRecord], total: int | None = None) -> None:
        i = 0
        while i < len(recs):
            rest = recs[i:]
            need = min(len(rest), self.max_pending)
            stopping = False
            with self._cond:
                while True:
                    self._raise_if_failed()
                    if self._stop.is_set():
                        stopping = True
                        break
                    level = self.max_pending - need
                    if self._spool_empty():
                        take, _ = self._room_for(rest, total if not i else None)
                        if take >= need or (take and not self._unacked):
                            break
                        if not take and not self._unacked and not self.spool.records:
                            raise SpoolFull(self.spool._full_message(size_of(rest[0]), 0))
                        if take:  # the bytes bound, not the count: wait for half to go
                            level = len(self._unacked) // 2
                    self._wait(level, timeout=1.0)
            with self._order:
                if stopping:  # SIGTERM while Kafka is away: keep the rest in the spool
                    self._to_spool(rest)
                    self.produced += _readings(rest)
                    return
                if not self._settle():  # the drainer was handing over: look again
                    continue
                take, nbytes = self._room_for(rest, total if not i else None)
                if take:
                    self.produced += _readings(rest[:take])
                    self._hand_over(rest[:take], False, nbytes)
            i += take

    # -- the drainer -----------------------------------------------------------------------

    def _drain_loop(self) -> None:
        next_house = time.monotonic() + HOUSEKEEPING_S
        next_log = 0.0
        while True:
            with self._cond:
                while not self._stopped_draining:
                    unread = self.spool.unread
                    room = self.max_pending - len(self._unacked)
                    if self.first_error is None and unread and room > 0:
                        break
                    if time.monotonic() >= next_house:
                        break
                    if unread:
                        self._wake_level = max(self._wake_level,
                                               self.max_pending - min(DRAIN_CHUNK, unread))
                    self._cond.wait(max(0.01, next_house - time.monotonic()))
                if self._stopped_draining:
                    return
            try:
                if time.monotonic() >= next_house:
                    next_house = time.monotonic() + HOUSEKEEPING_S
                    next_log = self._housekeeping(next_log)
                with self._order:
                    room = min(self.max_pending - len(self._unacked), DRAIN_CHUNK)
                    if self.first_error is None and room > 0 and self.spool.unread:
                        self._hand_over(self._skip_delivered(self.spool.read(room)), True)
            except (WattstreamError, OSError) as exc:
                with self._cond:
                    self._set_error(str(exc))
                    self._wake()
                return

    def _release_acknowledged(self) -> None:
        with self._cond:
            oldest = next(iter(self._from_spool.values()), None)
            self.spool.release(oldest if oldest is not None else self._last_sent_index + 1)

    def _housekeeping(self, next_log: float) -> float:
        self._release_acknowledged()
        self.spool.commit()
        now = time.monotonic()
        waiting = len(self._unacked) + self.spool.unread
        if self._unacked and time.time() - self._quiet_since >= QUIET_LOG_S and now >= next_log:
            log.warning("Kafka unreachable since %s, %d readings pending (%d in the client, %d "
                        "in the spool %s)", _clock(self._quiet_since), waiting,
                        len(self._unacked), self.spool.unread, self.spool.path)
            next_log = now + QUIET_LOG_S
        if self._spooling and not self.spool.records:
            self._spooling = False
            log.info("spool %s drained: Kafka has acknowledged everything it held",
                     self.spool.path)
        return next_log

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

    # -- records whose fate is unknown at exit -------------------------------------------------
    #
    # A record in flight when the broker went away may have been written without its
    # acknowledgement coming back. Within a run the client's idempotent retries settle that; at
    # exit such records go to the spool, and `uncertain.json` says so: the first `count` records
    # of the spool, and where in the topic they would be (after the last offset acknowledged in
    # each partition, not older than their CreateTime). The next start looks there and skips
    # those it finds: exactly once, not at least once. A stale marker costs a look, nothing else.

    def _marker_path(self) -> Path:
        return self.spool.path / "uncertain.json"

    def _write_uncertain(self, uncertain: list[SpoolRecord], pushed: int) -> None:
        old_left = max(0, self._uncertain_left)
        topics: dict[str, dict] = {}
        for r in uncertain:
            t = topics.setdefault(r[TOPIC], {"since_ms": r[TS_MS], "after": {}})
            t["since_ms"] = min(t["since_ms"], r[TS_MS])
        for (topic, part), offset in self._acked_offsets.items():
            if topic in topics:
                topics[topic]["after"][str(part)] = offset
        if old_left:  # an earlier run's uncertain records, not reached here: keep their bounds
            for topic, t in self._uncertain_marker.get("topics", {}).items():
                mine = topics.setdefault(topic, {"since_ms": t["since_ms"], "after": {}})
                mine["since_ms"] = min(mine["since_ms"], t["since_ms"])
                after = mine["after"]
                for part, offset in t.get("after", {}).items():
                    after[part] = min(offset, after.get(part, offset))
                for part in list(after):
                    if part not in t.get("after", {}):
                        del after[part]  # no lower bound known for the earlier records
        count = pushed + old_left if uncertain or old_left else 0
        path = self._marker_path()
        if not count:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"count": count, "topics": topics}))
        tmp.replace(path)

    def _reconcile(self) -> None:
        """Look for the spool's uncertain head records in Kafka (see above)."""
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError

        try:
            marker = json.loads(self._marker_path().read_text())
            count, topics = int(marker["count"]), dict(marker["topics"])
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("spool %s: uncertain.json unreadable (%s): its head is sent as it is",
                        self.spool.path, exc)
            return
        head = self.spool.read(min(count, self.spool.records))
        self.spool.rewind()
        want = {(r[TOPIC], r[KEY], r[VALUE]) for r in head}
        self._uncertain_marker, self._uncertain_left = marker, len(head)
        found: set[tuple[str, bytes | None, bytes]] = set()
        t0 = time.monotonic()
        try:
            consumer = KafkaConsumer(bootstrap_servers=self.kafka_cfg.bootstrap_servers.split(","),
                                     group_id=None, enable_auto_commit=False,
                                     **kafka_client.python_kwargs(self.kafka_cfg))
        except KafkaError as exc:
            log.warning("cannot check the spool's head against Kafka (%s): sent as it is", exc)
            return
        try:
            starts: dict = {}
            for topic, t in topics.items():
                parts = consumer.partitions_for_topic(topic) or set()
                tps = [TopicPartition(topic, p) for p in sorted(parts)]
                if not tps:
                    continue
                by_time = consumer.offsets_for_times({tp: int(t["since_ms"]) for tp in tps})
                ends = consumer.end_offsets(tps)
                for tp in tps:
                    hit = by_time.get(tp)
                    start = ends[tp] if hit is None else hit.offset
                    after = t.get("after", {}).get(str(tp.partition))
                    if after is not None:
                        start = max(start, int(after) + 1)
                    if start < ends[tp]:
                        starts[tp] = (start, ends[tp])
            if starts:
                consumer.assign(list(starts))
                for tp, (start, _end) in starts.items():
                    consumer.seek(tp, start)
                waiting = set(starts)
                deadline = time.monotonic() + max(30.0, self.timeout_s)
                while waiting and time.monotonic() < deadline:
                    for tp, records in consumer.poll(timeout_ms=500).items():
                        for rec in records:
                            k = (tp.topic, rec.key, rec.value)
                            if k in want:
                                found.add(k)
                    waiting = {tp for tp in waiting if consumer.position(tp) < starts[tp][1]}
                if waiting:
                    log.warning("the spool's head was not checked against all of Kafka in time: "
                                "some readings may be sent twice")
        except KafkaError as exc:
            log.warning("cannot check the spool's head against Kafka (%s): sent as it is", exc)
        finally:
            consumer.close()
        self._found = found
        log.info("spool %s: %d of its first %d records were already in Kafka (written when it "
                 "went away, unacknowledged): not sent again (checked in %.1f s)",
                 self.spool.path, len(found), len(head), time.monotonic() - t0)

    def _skip_delivered(self, recs: list[SpoolRecord]) -> list[SpoolRecord]:
        """Drop from a batch read from the spool what `_reconcile` found in Kafka."""
        if self._uncertain_left <= 0:
            return recs
        self._uncertain_left -= len(recs)
        if not self._found:
            return recs
        out = []
        for r in recs:
            k = (r[TOPIC], r[KEY], r[VALUE])
            if k in self._found:  # delivered by the earlier run: not drained, not resent
                self._found.discard(k)
                self._last_sent_index = r[INDEX]
                if r[KIND] == READING:
                    self.drained -= 1
                    self.already_in_kafka += 1
            else:
                out.append(r)
        return out

    def close(self, timeout: float = CLOSE_FLUSH_SECONDS) -> None:
        """Send what the spool still holds while Kafka takes it, flush what the client holds
        (together at most `timeout`), then close; everything still unacknowledged goes to the
        spool, in order (`spooled` readings)."""
        if self._closed:
            return
        self._closed = True
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        with self._cond:
            # A run that ends with Kafka up leaves nothing behind: the drainer goes on while
            # acknowledgements come (in an outage none do, and the spool is kept at once).
            while (self.spool.unread and self.first_error is None
                   and time.monotonic() < deadline
                   and time.monotonic() - self._last_ack < PROGRESS_S):
                self._cond.wait(0.1)
            self._stopped_draining = True
            self._cond.notify_all()
        self._drainer.join()
        while self._in_flight() and time.monotonic() < deadline:
            try:
                self._p.flush(timeout=max(0.1, deadline - time.monotonic()))
            except KafkaError:  # timed out, or a batch being split and retried: wait on
                with self._cond:
                    if self._in_flight():
                        self._wait(0, min(0.5, max(0.0, deadline - time.monotonic())))
        if self._in_flight():
            log.warning("Kafka did not acknowledge %d records within %.0f s: they go to the "
                        "spool %s", self._in_flight(), timeout, self.spool.path)
        self._closing = True
        forced = bool(self._unacked)
        sender = getattr(self._p, "_sender", None)
        if forced and sender is not None:
            sender.force_close()  # the client's batches are aborted: the copies go to the spool
            sender.join(5)
        try:
            self._p.close(timeout=0 if forced else 5)
        except KafkaError as exc:
            log.error("closing the Kafka client: %s", exc)
        with self._cond:
            # Everything read from the spool leaves it; every unacknowledged record (read from
            # it or not) goes back to its head, in the order handed over, which is the order
            # produced (a direct send waits for an empty spool). A record Kafka acknowledged
            # out of order is thus never sent twice.
            self.spool.release()
            handed = list(self._unacked.values())
            uncertain = [r for seq, r in self._unacked.items() if seq not in self._dead]
        self._write_uncertain(uncertain, len(handed))
        self.spool.push_front(handed)
        self.spooled = self.spool.readings
        self.spooled_max = max(self.spooled_max, self.spooled)
        if self.spool.records:
            log.warning("%d readings (%d records) are in the spool %s; the next start sends "
                        "them first", self.spool.readings, self.spool.records, self.spool.path)
        self.spool.close()


def _readings(recs: list[SpoolRecord]) -> int:
    return sum(r[KIND] == READING for r in recs)
