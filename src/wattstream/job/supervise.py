"""The job's first line of defence: one streaming query kept running through outages of Kafka,
HDFS and the storage path, in the same process.

A query that fails with a transient fault (`faults.TRANSIENT`) is started again from its
checkpoint after a capped exponential backoff (`job.restart_initial_seconds`, doubling to
`job.restart_max_seconds`; attempts unlimited unless `job.restart_max_attempts`), as Flink's
exponential-delay restart strategy does. While it waits, the dependency is probed every
`PROBE_SECONDS`: once a dependency seen down answers again, the query restarts at once instead
of sleeping out the backoff, so recovery follows the service's return within seconds.
Before the first start the dependencies are probed too: a job started while Kafka is away
waits for it. A batch that hangs on a dependency (Spark's own timeouts and task retries are
still running) is reported as waiting too, without a restart. A permanent fault ends the job
with a message that names the cause and what to do.

The state (`wattstream_job_state`), restarts by reason, the outage's start, attempt and next
retry are on /metrics, which stays up throughout; /healthz answers while this loop runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..errors import WattstreamError
from . import faults
from .metrics import JobMetrics

log = logging.getLogger(__name__)

PROBE_SECONDS = 2.0      # how often a waiting job probes the dependency it waits for
HANG_SECONDS = 15.0      # a batch this long without progress gets its dependencies probed
STABLE_BATCHES = 1       # completed batches after a restart that end an outage


class Backoff:
    """Delay of restart attempt n (1-based): initial · 2^(n-1), capped."""

    def __init__(self, initial: float, cap: float):
        self.initial, self.cap = initial, cap

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.initial * 2 ** min(max(attempt - 1, 0), 60))


class Supervisor:
    """Runs `start_query()` (returns a started StreamingQuery) until `stop` is set.

    `probes` maps a dependency (faults.KAFKA, HDFS, STORAGE) to a function that raises when the
    dependency does not answer; `progress()` returns the count of completed batches so far.
    """

    def __init__(self, cfg, metrics: JobMetrics, start_query: Callable[[], object],
                 probes: dict[str, Callable[[], None]], progress: Callable[[], int],
                 stop: threading.Event, stop_query: Callable[[object], None]):
        j = cfg.job
        self.metrics, self.start_query, self.probes = metrics, start_query, probes
        self.progress, self.stop, self.stop_query = progress, stop, stop_query
        self.backoff = Backoff(j.restart_initial_seconds, j.restart_max_seconds)
        self.max_attempts = j.restart_max_attempts
        self.trigger_s = j.trigger_seconds
        self.query = None
        self.attempt = 0
        self.since: float | None = None   # wall time the current outage was first seen
        self.reason: str | None = None

    # --- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        self._set("starting")
        self._wait_for_dependencies()
        while not self.stop.is_set():
            fault = self._run_once()
            if fault is None:  # stopped on request
                return
            if not fault.transient:
                raise WattstreamError(f"the streaming query stopped: {fault.describe()}")
            self._outage(fault)

    def _run_once(self) -> faults.Fault | None:
        """Start the query and watch it; the fault it ended with, None when stopped."""
        try:
            self.query = self.start_query()
        except Exception as exc:  # noqa: BLE001 - classified below: transient or permanent
            return self._fault(exc)
        started_at = self.progress()
        last_seen, last_change = started_at, time.monotonic()
        while not self.stop.is_set():
            self.metrics.beat()
            q = self.query
            if not q.isActive:
                exc = q.exception()
                if exc is None:
                    return faults.Fault(False, "query stopped", "the query ended by itself")
                return self._fault(exc)
            done = self.progress()
            if done != last_seen:
                last_seen, last_change = done, time.monotonic()
                if done - started_at >= STABLE_BATCHES and self.reason is not None:
                    log.info("%s is back: batches run again after %d attempt(s)",
                             self.reason, self.attempt)
                    self._recovered()
                if self.reason is None:
                    self._set("running")
            elif time.monotonic() - last_change > max(HANG_SECONDS, 3 * self.trigger_s):
                self._check_hang()
                last_change = time.monotonic() - HANG_SECONDS / 2  # probe again soon
            self.stop.wait(0.5)
        return None

    def _fault(self, exc: BaseException) -> faults.Fault:
        fault = faults.classify(exc)
        if fault.transient:
            log.warning("transient %s fault: %s", fault.reason, fault.summary)
        else:
            log.error("permanent fault (%s): %s", fault.reason, faults.text_of(exc)[:4000])
        return fault

    def _check_hang(self) -> None:
        """A batch without progress: report the dependency that does not answer, if any."""
        for reason, probe in self.probes.items():
            try:
                probe()
            except Exception as exc:  # noqa: BLE001 - the probe's failure is the finding
                if self.reason != reason:
                    log.warning("%s does not answer while a batch runs (%s); Spark retries",
                                reason, exc)
                self.reason = reason
                self.since = self.since or time.time()
                self.metrics.set_outage(self.since, self.attempt, 0.0)
                self._set(f"waiting_{reason}")
                return

    # --- outages -------------------------------------------------------------------------
    def _outage(self, fault: faults.Fault) -> None:
        """Wait (probing) and count the restart that follows."""
        self.reason = fault.reason
        self.since = self.since or time.time()
        self._stop_query()
        self._wait(fault.reason)
        if self.stop.is_set():
            return
        self.metrics.restarts.labels(fault.reason).inc()
        self._set("restarting")
        log.info("restarting the query (attempt %d of this %s outage)", self.attempt,
                 fault.reason)

    def _wait(self, reason: str) -> None:
        """Back off before attempt `attempt + 1`; leave early once a dependency seen down
        answers again; at the end of a backoff, wait on while the probe still fails."""
        probe = self.probes.get(reason)
        seen_down = False
        while not self.stop.is_set():
            self.attempt += 1
            if self.max_attempts and self.attempt > self.max_attempts:
                raise WattstreamError(
                    f"{reason} still failing after {self.max_attempts} restart attempts "
                    f"(job.restart_max_attempts); last seen up before "
                    f"{time.strftime('%H:%M:%S', time.localtime(self.since))}")
            delay = self.backoff.delay(self.attempt)
            due = time.monotonic() + delay
            self.metrics.set_outage(self.since, self.attempt, time.time() + delay)
            self._set(f"waiting_{reason}")
            log.warning("%s unreachable since %s, retrying (attempt %d, next in %.0f s)",
                        reason, time.strftime("%H:%M:%S", time.localtime(self.since)),
                        self.attempt, delay)
            up = False
            while not self.stop.is_set():
                self.metrics.beat()
                up = self._probe(probe)
                seen_down = seen_down or not up
                if (up and seen_down) or time.monotonic() >= due:
                    break
                self.stop.wait(min(PROBE_SECONDS, max(0.0, due - time.monotonic())))
            if up:
                return

    def _wait_for_dependencies(self) -> None:
        """Before the first start: every dependency answers (a job started while Kafka is
        away waits for it, and says so)."""
        for reason, probe in self.probes.items():
            if self.stop.is_set() or self._probe(probe):
                continue
            self.reason, self.since = reason, time.time()
            self._wait(reason)
        if self.reason is not None:
            self._set("restarting")

    def _probe(self, probe: Callable[[], None] | None) -> bool:
        if probe is None:
            return True
        try:
            probe()
            return True
        except Exception as exc:  # noqa: BLE001 - not answering is what a probe finds out
            log.debug("probe failed: %s", exc)
            return False

    def _recovered(self) -> None:
        self.reason, self.since, self.attempt = None, None, 0
        self.metrics.set_outage(None, 0, 0.0)

    def _stop_query(self) -> None:
        if self.query is not None:
            try:
                self.stop_query(self.query)
            except Exception as exc:  # noqa: BLE001 - a failed query may not stop cleanly
                log.debug("stopping the failed query: %s", exc)

    def _set(self, state: str) -> None:
        self.metrics.set_state(state)
