"""Alerts to Alertmanager: every alert the job puts on the alerts topic is posted to each
configured Alertmanager (`POST /api/v2/alerts`), by a thread of the job's driver.

The alerts topic is the queue. The notifier reads it with its own consumer group
(`notify.consumer_group`) and commits an offset only once an Alertmanager accepted the alerts
before it, so an Alertmanager outage, a job restart or a crash delays notifications and loses
none: they go when Alertmanager answers again (retries back off from
`notify.retry_initial_seconds` to `notify.retry_max_seconds`). Alertmanager drops what it
already holds (same labels), so a re-post after a crash notifies no one twice.

An alert's labels are `alertname` (its type), `building`, `site` (`weather.sites`), `severity`
and `category` (`alert_types`); there is no window label, so the alerts of one building and
type in consecutive windows are one Alertmanager alert, one notification, until a window passes
without one: `endsAt` is one window after the alert's window ends (or after it is posted, if
that is later). The first start of a group reads from the job's start on, not the topic's
history; an alert the job raised long after its event (a replay of history,
`notify.max_event_age_seconds`) is counted, not notified.

Alertmanager keeps the alerts it holds in memory only, so one that restarts before a group's
wait has passed would never notify what it had accepted. The notifier therefore keeps the alerts
it posted that are still active (their `endsAt` ahead) and every `notify.resend_seconds` asks
each Alertmanager when it started (`GET /api/v2/status`); to one that restarted since it last
asked it posts them again, as they were first posted (Alertmanager drops what it already notified:
same labels, its notification log is on disk). A restarted notifier recalls the alerts of the
last two windows from the topic before its committed offsets, and posts them once to every
Alertmanager.

Every member of an HA set gets every alert; one that accepted is enough (the members share
what they receive). A 4xx answer refuses the alert itself: it is logged, counted and skipped,
not retried forever (it stays on Kafka and in Parquet).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from .. import kafka_client
from ..alert_types import BY_NAME
from ..config import Config

log = logging.getLogger(__name__)
POLL_MS = 100  # how long an idle poll waits for the next alert


def urls(cfg: Config) -> list[str]:
    return [u.strip().rstrip("/") for u in cfg.notify.alertmanager_urls.split(",") if u.strip()]


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def site_of(cfg: Config, building: str) -> str:
    return cfg.weather.sites.get(building, cfg.weather.default_site)


def payload(alert: dict, cfg: Config, now: datetime) -> dict:
    """One alert of the alerts topic (its JSON value) as an Alertmanager v2 alert."""
    t = BY_NAME.get(alert["type"])
    building = alert["building_id"]
    site = site_of(cfg, building)
    fields = dict(alert)
    for k in ("event_time", "window_start", "window_end", "raised_at"):
        fields[k] = _time(alert.get(k))
    for k in ("value", "threshold", "lead_minutes"):
        if fields.get(k) is None:
            fields[k] = float("nan")
    labels = {"alertname": alert["type"], "building": building,
              "severity": t.severity if t else "warning",
              "category": t.category if t else "consumption"}
    if site:
        labels["site"] = site
    labels = {**cfg.notify.labels, **labels}  # its own labels win: routing depends on them
    unit = t.unit if t else "kWh"
    annotations = {
        "summary": t.text(t.summary, fields, site) if t else f"{alert['type']} {building}",
        "description": t.text(t.description, fields, site) if t else "",
        "value": _num(alert.get("value")), "threshold": _num(alert.get("threshold")),
        "unit": unit, "window_start": alert.get("window_start") or "",
        "window_end": alert.get("window_end") or "", "alert_id": alert.get("alert_id") or ""}
    out = {"labels": labels, "annotations": annotations}
    if cfg.notify.link_url:
        out["generatorURL"] = annotations["link"] = cfg.notify.link_url.format(building=building)
    start = fields["event_time"] or fields["raised_at"] or now
    end = max(fields["window_end"] or now, now) + timedelta(seconds=cfg.windows.length_seconds)
    out["startsAt"], out["endsAt"] = _iso(start), _iso(end)
    return out


def _num(v) -> str:
    return "" if v is None else f"{float(v):g}"


class Refused(Exception):
    """Alertmanager answered 4xx: the alerts themselves are wrong; retrying cannot help."""


def post(url: str, alerts: list[dict], timeout: float) -> None:
    req = urllib.request.Request(f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()[:300].decode(errors="replace")
        if 400 <= exc.code < 500:
            raise Refused(f"{url}: HTTP {exc.code}: {body}") from None
        raise


class Notifier:
    """The thread that takes alerts off the alerts topic to Alertmanager. `metrics`: the job's
    (`notify_sent`, `notify_failed`, `notify_refused`, `notify_pending`, `notify_last_success`)."""

    def __init__(self, cfg: Config, metrics, started_ms: int | None = None):
        self.cfg, self.metrics = cfg, metrics
        self.urls = urls(cfg)
        self.started_ms = int(time.time() * 1000) if started_ms is None else started_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer = None
        self.ready = threading.Event()  # set once its start position is fixed
        self.delivered = 0
        self._pending_at = 0.0
        # Posted and still active: (type, building) -> (alert JSON, time first posted, endsAt).
        self._active: dict[tuple[str, str], tuple[bytes, datetime, float]] = {}
        self._started: dict[str, str | None] = {u: None for u in self.urls}  # Alertmanager's
        self._resend_at = 0.0
        self._first: dict = {}  # partition -> the group's first offset (commit metadata)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Notifier:
        self._thread = threading.Thread(target=self._run, name="wattstream-notify", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._close()

    def _close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):  # a consumer whose broker is gone
                self._consumer.close(autocommit=False)
            self._consumer = None

    def _run(self) -> None:
        delay = self.cfg.notify.retry_initial_seconds
        while not self._stop.is_set():
            try:
                if self._consumer is None:
                    self._consumer = self._connect()
                    self.ready.set()
                self._cycle()
                self._resend()
                delay = self.cfg.notify.retry_initial_seconds
            except Exception as exc:  # noqa: BLE001 - Kafka away: try again, lose nothing
                log.warning("notify: %s; again in %.1f s", exc, delay)
                self._close()
                self._stop.wait(delay)
                delay = min(delay * 2, self.cfg.notify.retry_max_seconds)

    # --- Kafka ---------------------------------------------------------------------------
    def _connect(self):
        from kafka import KafkaConsumer, TopicPartition

        k = self.cfg.kafka
        c = KafkaConsumer(bootstrap_servers=k.bootstrap_servers,
                          group_id=self.cfg.notify.consumer_group, enable_auto_commit=False,
                          fetch_max_wait_ms=POLL_MS, consumer_timeout_ms=1000,
                          **kafka_client.python_kwargs(k))
        parts = c.partitions_for_topic(k.alerts_topic) or set()
        if not parts:
            c.close()
            raise ConnectionError(f"topic {k.alerts_topic} has no partitions yet")
        tps = [TopicPartition(k.alerts_topic, p) for p in sorted(parts)]
        c.assign(tps)
        fresh, resumed = {}, {}
        for tp in tps:
            committed = c.committed(tp, metadata=True)
            if committed is not None:
                resumed[tp] = committed.offset
                self._first[tp] = _first_of(committed.metadata)
            else:
                fresh[tp] = None
        if resumed:
            self._recall(c, resumed)
        if fresh:
            # A new group starts at the job's start: the end offsets first, then the first
            # offset at or after the start time, so an alert sent in between is not skipped.
            ends = c.end_offsets(list(fresh))
            at = c.offsets_for_times({tp: self.started_ms for tp in fresh})

            start = {tp: (at[tp].offset if at.get(tp) is not None else ends[tp]) for tp in fresh}
            for tp, off in start.items():
                c.seek(tp, off)
                self._first[tp] = off
            c.commit({tp: _meta(off, _note(self._first.get(tp))) for tp, off in start.items()})
        return c

    def _cycle(self) -> None:
        c = self._consumer
        polled = c.poll(timeout_ms=POLL_MS, max_records=self.cfg.notify.batch_max)
        records = [r for rs in polled.values() for r in rs]
        self._pending(len(records), force=bool(records))
        if not records:
            return
        alerts = []
        for r in records:
            try:
                a = json.loads(r.value)
                live = self._live(a)
            except (ValueError, TypeError, KeyError):
                log.error("notify: record %s/%d@%d is not an alert; skipped", r.topic,
                          r.partition, r.offset)
                self.metrics.notify_refused.inc()
                continue
            if live:
                alerts.append((a, r))
            else:
                self.metrics.notify_skipped.inc()
        if alerts:
            self._deliver([(a, r.value) for a, r in alerts])
        from kafka import TopicPartition

        last: dict = {}
        for r in records:
            last[TopicPartition(r.topic, r.partition)] = r.offset + 1
        c.commit({tp: _meta(off, _note(self._first.get(tp))) for tp, off in last.items()})
        self._pending(0, force=True)

    def _live(self, alert: dict) -> bool:
        """Raised soon enough after its event to be news (`notify.max_event_age_seconds`)."""
        age = self.cfg.notify.max_event_age_seconds
        if not age:
            return True
        raised, event = _time(alert["raised_at"]), _time(alert["event_time"])
        return raised is None or event is None or (raised - event).total_seconds() <= age

    def _pending(self, in_hand: int, force: bool = False) -> None:
        """wattstream_notify_pending: alerts in hand plus those behind on the topic (its end
        offsets, asked of the broker at most once a second unless `force`)."""
        now = time.monotonic()
        if not force and now - self._pending_at < 1.0:
            return
        self._pending_at = now
        c = self._consumer
        tps = list(c.assignment())
        ends = c.end_offsets(tps) if tps else {}
        behind = sum(max(0, ends[tp] - c.position(tp)) for tp in tps if tp in ends)
        self.metrics.notify_pending.set(behind + in_hand)

    # --- Alertmanager ----------------------------------------------------------------------
    def _deliver(self, items: list[tuple[dict, bytes]]) -> None:
        """Post until one Alertmanager accepts (or refuses: 4xx), or the notifier stops."""
        alerts = [a for a, _ in items]
        delay = self.cfg.notify.retry_initial_seconds
        while True:
            now = datetime.now(UTC)
            body = [payload(a, self.cfg, now) for a in alerts]
            accepted, refused = False, None
            for url in self.urls:
                try:
                    post(url, body, self.cfg.notify.timeout_seconds)
                    accepted = True
                except Refused as exc:
                    refused = exc
                except Exception as exc:  # noqa: BLE001 - down, slow, unreachable
                    self.metrics.notify_failed.labels(url).inc()
                    log.warning("notify: %s: %s", url, exc)
            if accepted:
                self.metrics.notify_sent.inc(len(alerts))
                self.metrics.notify_last_success.set(time.time())
                self.delivered += len(alerts)
                if delay > self.cfg.notify.retry_initial_seconds:
                    self._resend_at = 0.0  # it was away: did it restart?
                for (a, raw), b in zip(items, body, strict=True):
                    self._remember(a, raw, now, b["endsAt"])
                return
            if refused is not None:
                log.error("notify: %d alert(s) refused: %s", len(alerts), refused)
                self.metrics.notify_refused.inc(len(alerts))
                return
            self._pending(len(alerts), force=True)
            if self._stop.wait(delay):
                raise InterruptedError("notify stopped with alerts not yet accepted")
            delay = min(delay * 2, self.cfg.notify.retry_max_seconds)

    # --- Alertmanager restarts ------------------------------------------------------------
    def _remember(self, alert: dict, raw: bytes, posted: datetime, ends: str) -> None:
        ends_at = _time(ends).timestamp()
        if ends_at > time.time():
            self._active[(alert["type"], alert["building_id"])] = (raw, posted, ends_at)

    def _recall(self, c, committed: dict) -> None:
        """Refill the alerts still active from the topic's last two windows before the
        committed offsets (posted before this notifier started), then seek to those offsets."""
        horizon = 2 * self.cfg.windows.length_seconds + 60
        since = int((time.time() - horizon) * 1000)
        at = c.offsets_for_times({tp: since for tp in committed})
        todo = {}
        for tp, end in committed.items():
            back = at.get(tp)
            # Not before the group's first offset: what came before was never posted.
            begin = max(back.offset, self._first.get(tp) or 0) if back is not None else end
            if begin < end:
                c.seek(tp, begin)
                todo[tp] = end
        deadline = time.monotonic() + self.cfg.notify.timeout_seconds * 6
        while todo and time.monotonic() < deadline and not self._stop.is_set():
            for tp, rs in c.poll(timeout_ms=POLL_MS, max_records=5000).items():
                for r in rs:
                    if r.offset >= committed[tp]:
                        continue
                    try:
                        a = json.loads(r.value)
                        if not self._live(a):
                            continue
                        raised = _time(a.get("raised_at")) or datetime.now(UTC)
                        self._remember(a, r.value, raised,
                                       payload(a, self.cfg, raised)["endsAt"])
                    except (ValueError, TypeError, KeyError):
                        continue  # counted as refused when it was first read
            todo = {tp: end for tp, end in todo.items() if c.position(tp) < end}
        for tp, end in committed.items():
            c.seek(tp, end)
        self._resend_at = 0.0  # ask soon: an Alertmanager not asked before gets them once

    def _resend(self) -> None:
        """Post the active alerts again to each Alertmanager that started since last asked."""
        every = self.cfg.notify.resend_seconds
        now = time.monotonic()
        if not every or now < self._resend_at:
            return
        self._resend_at = now + every
        wall = time.time()
        self._active = {k: v for k, v in self._active.items() if v[2] > wall}
        for url in self.urls:
            try:
                started = started_at(url, self.cfg.notify.timeout_seconds)
            except Exception as exc:  # noqa: BLE001 - down: asked again next time
                log.info("notify: %s status: %s", url, exc)
                continue
            before, self._started[url] = self._started[url], started
            if before == started or not self._active:
                continue
            body = [payload(json.loads(raw), self.cfg, posted)
                    for raw, posted, _ in self._active.values()]
            try:
                for i in range(0, len(body), self.cfg.notify.batch_max):
                    try:
                        post(url, body[i:i + self.cfg.notify.batch_max],
                             self.cfg.notify.timeout_seconds)
                    except Refused as exc:  # refused the first time too: not retried
                        log.error("notify: active alerts refused again: %s", exc)
            except Exception as exc:  # noqa: BLE001 - try again at the next check
                self._started[url] = before
                log.warning("notify: posting %d active alerts again to %s: %s", len(body),
                            url, exc)
                continue
            self.metrics.notify_resent.inc(len(body))
            log.info("notify: %s restarted: %d active alerts posted again", url, len(body))


def started_at(url: str, timeout: float) -> str:
    """When the Alertmanager at `url` started (`uptime` of `GET /api/v2/status`)."""
    with urllib.request.urlopen(f"{url}/api/v2/status", timeout=timeout) as resp:
        return json.load(resp)["uptime"]


def _note(first: int | None) -> str:
    """A commit's metadata: the group's first offset of the partition."""
    return "" if first is None else f"first={first}"


def _first_of(metadata: str | None) -> int | None:
    if metadata and metadata.startswith("first="):
        with contextlib.suppress(ValueError):
            return int(metadata[6:])
    return None


def _meta(offset: int, metadata: str = ""):
    """OffsetAndMetadata across kafka-python versions (2.1 added leader_epoch)."""
    from kafka.structs import OffsetAndMetadata

    try:
        return OffsetAndMetadata(offset, metadata, -1)
    except TypeError:
        return OffsetAndMetadata(offset, metadata)
