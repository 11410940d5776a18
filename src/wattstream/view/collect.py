"""Builds the view's snapshots from what a running pipeline exposes: the job's /metrics
(windows, counters, progress), the generator's /metrics (readings sent, its event clock) and
the alerts topic.

What the job does comes from its supervisor's series (`wattstream_job_state`, 1 for the current
state; the outage's start, attempt and next retry; restarts by reason): a job waiting for Kafka
keeps its /metrics up, and the view says "kafka unreachable since …, retrying …" and goes on.

How long after its crossing reading an alert arrived: the alert's Kafka timestamp minus the
time that reading was sent. A generator in realtime mode sends a reading when the wall clock
reaches its event time plus `wattstream_generator_event_clock_offset_seconds` (0 unless the
demo moved event time), so the send time follows from the alert's `event_time`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from .. import episodes, kafka_client
from ..config import Config
from . import scrape
from .snapshot import Alert, Building, JobStatus, Snapshot

log = logging.getLogger(__name__)
KEEP_ALERTS = 50


def metrics_url(cfg: Config, port: int) -> str:
    host = cfg.metrics.host if cfg.metrics.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{port}/metrics"


class AlertFeed:
    """The alerts topic from `since` (unix time) on, read without a consumer group by a
    background thread, so an unreachable broker never stalls the screen."""

    def __init__(self, cfg: Config, since: float):
        # The view shows whether alerts arrive; kafka-python's own retry lines would only
        # scribble over the screen.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        self.cfg = cfg
        self.since_ms = int(since * 1000)
        self.received: queue.SimpleQueue[tuple[dict, float]] = queue.SimpleQueue()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="alert-feed", daemon=True)
        self.thread.start()

    def _connect(self):
        from kafka import KafkaConsumer, TopicPartition

        k = self.cfg.kafka
        c = KafkaConsumer(bootstrap_servers=k.bootstrap_servers.split(","), group_id=None,
                          enable_auto_commit=False, request_timeout_ms=5000,
                          **kafka_client.python_kwargs(k))
        parts = [TopicPartition(k.alerts_topic, p)
                 for p in sorted(c.partitions_for_topic(k.alerts_topic) or ())]
        if not parts:
            c.close()
            return None
        c.assign(parts)
        # Ends first: an alert written between the two look-ups is then still read.
        ends = c.end_offsets(parts)
        starts = c.offsets_for_times({tp: self.since_ms for tp in parts})
        for tp in parts:
            c.seek(tp, starts[tp].offset if starts.get(tp) else ends[tp])
        return c

    def _run(self) -> None:
        consumer = None
        while not self.stopped.is_set():
            try:
                consumer = consumer or self._connect()
                if consumer is None:
                    self.stopped.wait(2.0)
                    continue
                for records in consumer.poll(timeout_ms=500).values():
                    for r in records:
                        try:
                            self.received.put((json.loads(r.value), r.timestamp / 1000.0))
                        except (TypeError, ValueError):
                            continue
            except Exception as exc:  # noqa: BLE001 - Kafka down or restarting: try again
                log.debug("alerts topic: %s", exc)
                _close(consumer)
                consumer = None
                self.stopped.wait(2.0)
        _close(consumer)

    def poll(self) -> list[tuple[dict, float]]:
        """Alerts received since the last call, as (value, Kafka timestamp in seconds)."""
        out = []
        while True:
            try:
                out.append(self.received.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


def _close(consumer) -> None:
    if consumer is not None:
        try:
            consumer.close()
        except Exception:  # noqa: BLE001 - closing a broken client
            pass


def _mean(total: scrape.Rate, count: scrape.Rate) -> float | None:
    """Mean since the job started: no batch ended lately (a slow one is running)."""
    if not total.points or not count.points or not count.points[-1][1]:
        return None
    return total.points[-1][1] / count.points[-1][1]


def _parse_dt(iso) -> datetime | None:
    try:
        return datetime.fromisoformat(iso) if iso else None
    except (TypeError, ValueError):
        return None


def _parse_time(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return None


def _when(samples: scrape.Samples, name: str) -> float | None:
    """A timestamp gauge; None when absent, 0 (none) or NaN."""
    v = scrape.total(samples, name)
    return v if v is not None and v == v and v > 0 else None


def job_status(samples: scrape.Samples | None, now: float,
               previous: JobStatus | None = None) -> JobStatus | None:
    """The job's state from its /metrics at wall time `now`; None without a state series (the
    job is not up, or predates the supervisor). `previous` (the last scrape's) names the
    dependency of an outage while the query restarts, when the state no longer says it."""
    states = scrape.by_label(samples, "wattstream_job_state", "state")
    current = [st for st, v in states.items() if v >= 1]
    if not current:
        return None
    # One state is 1 at a time; should two be (a scrape between two updates), the outage wins.
    state = max(current, key=lambda st: (st.startswith("waiting_"), st == "restarting", st))
    since = _when(samples, "wattstream_job_waiting_since_timestamp_seconds")
    restarts = {r: int(v) for r, v in sorted(scrape.by_label(
        samples, "wattstream_job_restarts_total", "reason").items(),
        key=lambda rv: (-rv[1], rv[0])) if v == v}  # the most frequent first
    reason = None
    if state.startswith("waiting_"):
        reason = state.removeprefix("waiting_")
    elif state == "restarting" and previous is not None:
        if previous.reason and previous.since == since:
            reason = previous.reason  # the same outage: it restarts after what it waited for
        else:
            before = dict(previous.restarts)
            rose = [r for r, n in restarts.items() if n > before.get(r, 0)]
            reason = rose[0] if len(rose) == 1 else None
    attempt = scrape.total(samples, "wattstream_job_retry_attempt")
    return JobStatus(
        state=state, at=now, since=since if state != "running" else None,
        attempt=int(attempt) if attempt is not None and attempt == attempt else 0,
        next_retry=_when(samples, "wattstream_job_next_retry_timestamp_seconds"),
        reason=reason, restarts=tuple((r, n) for r, n in restarts.items() if n),
        last_batch=_when(samples, "wattstream_job_last_batch_timestamp_seconds"))


def _receiver_of(record: dict) -> str:
    body = record.get("body") or {}
    return str(body.get("receiver") or record.get("path", "").strip("/") or "?")


class Notifications:
    """What Alertmanager's receivers got, matched to the view's episodes: a notification
    names an episode (its alertname and building) when it arrived after the episode's first
    alert reached Kafka (the job posts from Kafka)."""

    SLACK_S = 1.0  # clocks of one machine; the receiver stamps on arrival

    def __init__(self, source: Callable[[], Sequence[dict]]):
        self.source = source
        self.by_key: dict[tuple[str, str], list[tuple[float, str]]] = {}
        self.counts: dict[str, int] = {}

    def take(self) -> None:
        for rec in self.source():
            receiver, at = _receiver_of(rec), float(rec.get("received_at") or 0.0)
            self.counts[receiver] = self.counts.get(receiver, 0) + 1
            for a in (rec.get("body") or {}).get("alerts") or []:
                labels = a.get("labels") or {}
                key = (str(labels.get("alertname")), str(labels.get("building")))
                self.by_key.setdefault(key, []).append((at, receiver))

    def of(self, a: Alert) -> Alert:
        if a.notified_at is not None:
            return a
        for at, receiver in self.by_key.get((a.type, a.building), ()):
            if at >= a.arrived - self.SLACK_S:
                return replace(a, notified_at=at, receiver=receiver)
        return a


class Collector:
    """Snapshots of one pipeline. `services` says which stack services are up (the generator
    and the job count as up while their /metrics answer); `demo`, `notices` and `links` are
    filled in by whoever started the pipeline; `notifications`, when given, returns the
    notifications Alertmanager's receiver got since the last call (its JSON records)."""

    def __init__(self, cfg: Config, since: float,
                 services: Callable[[], Sequence[tuple[str, bool | None]]] = lambda: (),
                 links: Sequence[tuple[str, str]] = (),
                 notifications: Callable[[], Sequence[dict]] | None = None):
        self.cfg = cfg
        self.started = time.monotonic()
        self.services = services
        self.links = tuple(links)
        self.demo = ""
        self.notices: deque[str] = deque(maxlen=3)
        self.job_url = metrics_url(cfg, cfg.metrics.job_port)
        self.gen_url = (metrics_url(cfg, cfg.metrics.generator_port)
                        if cfg.metrics.generator_port else None)
        self.feed = AlertFeed(cfg, since)
        self.alerts: deque[Alert] = deque(maxlen=KEEP_ALERTS)
        self.alerts_seen = 0
        self.alert_ids: set[str] = set()
        self.alert_counts: dict[str, int] = {}
        self.open: dict[tuple[str, str], episodes.Episode] = {}  # the newest episode of each key
        self.episodes = 0
        self.notifications = Notifications(notifications) if notifications else None
        self.sent, self.processed = scrape.Rate(), scrape.Rate()
        self.batch_sum, self.batch_count = scrape.Rate(), scrape.Rate()
        self.offset: float | None = None  # the generator's event clock, once seen
        self.last = Snapshot()

    def snapshot(self) -> Snapshot:
        job = scrape.scrape(self.job_url)
        gen = scrape.scrape(self.gen_url) if self.gen_url else None
        now = time.monotonic()
        sent = scrape.total(gen, "wattstream_generator_readings_sent_total")
        processed = scrape.total(job, "wattstream_readings_processed_total")
        self.sent.add(sent, now)
        self.processed.add(processed, now)
        self.batch_sum.add(scrape.total(job, "wattstream_batch_duration_seconds_sum",
                                        query="engine"), now)
        self.batch_count.add(scrape.total(job, "wattstream_batch_duration_seconds_count",
                                          query="engine"), now)
        offsets = [v for _, v in (gen or {}).get(
            "wattstream_generator_event_clock_offset_seconds", [])]
        if offsets:
            self.offset = max(offsets)
        self._take_alerts()
        if self.notifications is not None:
            self.notifications.take()
            self.alerts = deque((self.notifications.of(a) for a in self.alerts),
                                maxlen=KEEP_ALERTS)
        loaded = scrape.total(job, "wattstream_baseline_loaded")
        prev = self.last
        self.last = Snapshot(
            elapsed_s=now - self.started,
            services=(*self.services(), *((("generator", gen is not None),) if self.gen_url
                                          else ()), ("job", job is not None)),
            readings_in_per_s=self.sent.per_second(),
            processed_per_s=self.processed.per_second(),
            readings_sent=int(sent) if sent is not None else prev.readings_sent,
            readings_processed=(int(processed) if processed is not None
                                else prev.readings_processed),
            kafka_lag=scrape.total(job, "wattstream_kafka_lag_records", query="engine"),
            quarantined=int(scrape.total(job, "wattstream_quarantined_total") or 0)
            if job else prev.quarantined,
            late=int(scrape.total(job, "wattstream_late_readings_dropped_total") or 0)
            if job else prev.late,
            batch_s=scrape.first([scrape.ratio(self.batch_sum, self.batch_count),
                                  _mean(self.batch_sum, self.batch_count), prev.batch_s]),
            buildings=self._buildings(job) if job else prev.buildings,
            window_start=max(scrape.by_label(job, "wattstream_window_start_timestamp_seconds",
                                             "building").values(), default=None)
            if job else prev.window_start,
            window_s=self.cfg.windows.length_seconds,
            alerts=tuple(self.alerts),
            alert_counts=dict(self.alert_counts),
            episodes=self.episodes,
            notifications=dict(self.notifications.counts) if self.notifications else None,
            baseline=bool(loaded) if loaded is not None else prev.baseline,
            job=job_status(job, time.time(), prev.job),
            demo=self.demo,
            notices=tuple(self.notices),
            links=self.links,
        )
        return self.last

    def _buildings(self, job: scrape.Samples) -> tuple[Building, ...]:
        def gauge(name: str) -> dict[str, float]:
            return scrape.by_label(job, name, "building")

        energy = gauge("wattstream_window_energy_kwh")
        peak, temp = gauge("wattstream_window_peak_kwh"), gauge(
            "wattstream_window_temperature_celsius")
        occ, expected_kwh = gauge("wattstream_window_occupancy"), gauge(
            "wattstream_window_expected_kwh")
        rows = []
        for b, e in energy.items():
            if e != e:
                continue
            expected = expected_kwh.get(b)
            expected = None if expected is None or expected != expected else expected
            rows.append(Building(b, e, self.cfg.alerts.thresholds(b)[0], peak.get(b),
                                 temp.get(b), occ.get(b), expected))
        rows.sort(key=lambda r: (-r.energy_kwh, r.id))
        return tuple(rows)

    def _take_alerts(self) -> None:
        new = []
        for value, arrived in self.feed.poll():
            # Kafka gets an alert at least once; its id is deterministic. A replay follows its
            # original closely, so the ids of a long run need not all be kept.
            if value.get("alert_id") in self.alert_ids:
                continue
            if len(self.alert_ids) >= 100_000:
                self.alert_ids.clear()
            self.alert_ids.add(value.get("alert_id"))
            event = _parse_time(value.get("event_time", ""))
            delay = (arrived - (event + self.offset)
                     if event is not None and self.offset is not None else None)
            new.append((arrived, value, Alert(
                str(value.get("type")), str(value.get("building_id")),
                float(value.get("value") or 0.0), float(value.get("threshold") or 0.0),
                str(value.get("event_time", "")), delay, arrived=arrived)))
        for _, value, a in sorted(new, key=lambda x: (x[0], x[2].event_time)):
            self.alert_counts[a.type] = self.alert_counts.get(a.type, 0) + 1
            self._episode(value, a)
        self.alerts_seen += len(new)

    def _episode(self, value: dict, a: Alert) -> None:
        """The alert as a new episode row, or folded into its open episode's row."""
        start, end = _parse_dt(value.get("window_start")), _parse_dt(value.get("window_end"))
        if start is None:
            self.alerts.appendleft(a)
            self.episodes += 1
            return
        end = end or start + timedelta(seconds=self.cfg.windows.length_seconds)
        key = (a.type, a.building)
        ep = self.open.get(key)
        if ep is not None and episodes.continues(ep.end, start):
            self.open[key] = ep.extend(start, end, a.value, a.threshold)
            row = next((r for r in self.alerts if (r.type, r.building) == key), None)
            if row is not None:
                self.alerts.remove(row)
                a = row
            self.alerts.appendleft(replace(a, value=self.open[key].worst,
                                           threshold=self.open[key].threshold,
                                           windows=self.open[key].windows))
            return
        self.open[key] = episodes.Episode(a.type, a.building, start, end, 1, a.value,
                                          a.threshold, _parse_dt(value.get("event_time")))
        self.episodes += 1
        self.alerts.appendleft(a)

    def close(self) -> None:
        self.feed.close()
