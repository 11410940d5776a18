"""Replays finish: when the readings topic has been idle for `windows.idle_close_seconds` of
processing time, the job closes its open windows as if the watermark had passed them (as
Flink's source idleness does), so the last windows of a replay or backfill become final.

The close must happen inside a micro-batch, or a replay after a crash could close different
windows than the run before it. So the `IdleCloser` does not touch the engine: it writes an
idle-close record (`schema.IDLE_CLOSE_KEY`, value = the newest event time the engine has
seen) to the readings topic, and the batch that reads it moves the watermark past the end of
that event time's window (`engine.Engine.idle_close`). The record is data in the topic and
the checkpoint, so a replayed batch closes the same windows again: exactly once. A reading
for a closed window that arrives afterwards is late (counted, as any late reading).

It writes only when the query runs, Spark saw no data available at its last trigger, no batch
is running, the engine holds open windows, and no reading has arrived for the idle time; and
once per newest event time (again after another idle time, if the record did not arrive).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..config import Config
from ..schema import format_timestamp, idle_close_record
from .sinks import AlertProducer

log = logging.getLogger(__name__)
CHECK_SECONDS = 1.0


class IdleCloser:
    """`batches()`: the query's `stream.Batches` (or None before it exists); `status()`: the
    query's `status` dict (None while it is not running)."""

    def __init__(self, cfg: Config, batches: Callable[[], object | None],
                 status: Callable[[], dict | None], clock: Callable[[], float] = time.monotonic):
        self.cfg, self.batches, self.status, self.clock = cfg, batches, status, clock
        self.idle_s = cfg.windows.idle_close_seconds
        self.producer = AlertProducer(cfg)
        self._sent: tuple[int, float] | None = None  # (until_us, when) of the last record
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> IdleCloser:
        if self.idle_s > 0:
            self._thread = threading.Thread(target=self._loop, name="idle-close", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.producer.close()

    def _loop(self) -> None:
        while not self._stop.wait(CHECK_SECONDS):
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - Kafka away: the supervisor reports it
                log.debug("idle close: %s", exc)

    def due(self) -> int | None:
        """The event time (µs) to close up to, if a record is due now; else None."""
        b = self.batches()
        status = self.status()
        if b is None or not status or status.get("isDataAvailable", True) or \
                status.get("isTriggerActive", True) or b.busy:
            return None
        now = self.clock()
        until = b.engine.max_event_us
        if until is None or b.engine.windows.empty or now - b.input_at < self.idle_s:
            return None
        if self._sent is not None and self._sent[0] == until and now - self._sent[1] < self.idle_s:
            return None
        return int(until)

    def check(self) -> bool:
        """Write an idle-close record if one is due (True if written)."""
        until = self.due()
        if until is None:
            return False
        self.producer.send_raw(self.cfg.kafka.readings_topic, [idle_close_record(until)])
        self._sent = (until, self.clock())
        log.info("input idle for %d s: closing the open windows up to %s", self.idle_s,
                 format_timestamp_us(until))
        return True


def format_timestamp_us(us: int) -> str:
    return format_timestamp(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us))
