"""The supervisor's pure logic: which faults are transient, the backoff, restarts after a
transient fault, a clear stop on a permanent one, waiting for a dependency before the start,
an early restart once the dependency answers, the attempt cap. Fake queries, no Spark."""

from __future__ import annotations

import threading

import pytest

from wattstream.config import Config
from wattstream.errors import WattstreamError
from wattstream.job import faults
from wattstream.job.metrics import JOB_STATES, RESTART_REASONS, JobMetrics
from wattstream.job.supervise import Backoff, Supervisor

# Error texts as the job met them (trimmed): each must land on its side.
TRANSIENT_SEEN = {
    faults.KAFKA: [
        "org.apache.kafka.common.errors.TimeoutException: Timeout of 60000ms expired before "
        "the position for partition energy_data-4 could be determined",
        "An exception was raised by the Python Proxy. Return Message: Traceback (most recent "
        "call last):\n  ...\nkafka.errors.KafkaTimeoutError: KafkaTimeoutError: Failed to "
        "update metadata after 30.0 secs.",
    ],
    faults.HDFS: [
        "java.net.SocketException: Call From host/127.0.0.1 to localhost:9000 failed on "
        "socket exception: java.net.SocketException: Connection reset",
        'java.io.EOFException: End of File Exception between local host is: "vm/127.0.0.1"; '
        'destination host is: "localhost":59225; : java.io.EOFException',
        "java.net.ConnectException: Call From a/127.0.0.1 to 127.0.0.1:41873 failed on "
        "connection exception: java.net.ConnectException: Connection refused",
        "org.apache.hadoop.ipc.RemoteException(java.io.IOException): File /w/x could only be "
        "written to 0 of the 1 minReplication nodes. There are 1 datanode(s) running and 1 "
        "node(s) are excluded in this operation.",
    ],
    faults.STORAGE: ["java.io.IOException: No space left on device"],
}
PERMANENT_SEEN = {
    "data loss": "java.lang.IllegalStateException: Partition energy_data-0's offset was changed "
                 "from 120 to 0, Some data may have been lost because they are not available "
                 "in Kafka any more",
    "authentication": "org.apache.kafka.common.errors.SaslAuthenticationException: "
                      "Authentication failed during authentication due to invalid credentials",
    "authorization": "org.apache.kafka.common.errors.TopicAuthorizationException: Not "
                     "authorized to access topics: [energy_data]",
    "checkpoint": "wattstream.errors.WattstreamError: unreadable engine state "
                  "file:///c/engine/open-windows/000000000007.arrow: Invalid IPC stream",
    "unexpected error": "ZeroDivisionError: division by zero",
}


@pytest.mark.parametrize("reason,text", [(r, t) for r, ts in TRANSIENT_SEEN.items()
                                         for t in ts])
def test_transient_faults_name_their_dependency(reason, text):
    f = faults.classify(text)
    assert f.transient and f.reason == reason


@pytest.mark.parametrize("cause,text", list(PERMANENT_SEEN.items()))
def test_permanent_faults_say_what_to_do(cause, text):
    f = faults.classify(text)
    assert not f.transient and f.reason == cause
    assert f.advice and f.summary


def test_a_data_loss_is_permanent_though_it_names_kafka():
    text = ("org.apache.kafka.common.errors.TimeoutException ... Some data may have been lost "
            "because they are not available in Kafka any more")
    assert not faults.classify(text).transient


def test_the_summary_is_the_innermost_cause():
    text = "Query terminated with exception\nCaused by: A\n  at x\nCaused by: B: the root"
    assert faults.classify(text).summary == "B: the root"


def test_every_transient_reason_has_a_restart_series_and_a_waiting_state():
    assert set(faults.REASONS) == set(RESTART_REASONS)
    assert {f"waiting_{r}" for r in faults.REASONS} <= set(JOB_STATES)


def test_backoff_doubles_to_its_cap():
    b = Backoff(1.0, 60.0)
    assert [b.delay(n) for n in (1, 2, 3, 6, 7, 100)] == [1, 2, 4, 32, 60, 60]


class FakeQuery:
    def __init__(self, error: str | None = None):
        self.isActive = error is None
        self._error = error
        self.stopped = False

    def exception(self):
        return None if self._error is None else RuntimeError(self._error)


class Harness:
    """A supervisor over scripted query starts and a probe that is down for some calls."""

    def __init__(self, starts, probe_down: int | list[bool] = 0, **job):
        self.cfg = Config().replace(job={"restart_initial_seconds": 0.01,
                                         "restart_max_seconds": 0.05, **job})
        self.metrics = JobMetrics(self.cfg)
        self.stop = threading.Event()
        self.starts, self.started = list(starts), 0
        self.probe_calls, self.probe_down = 0, probe_down
        self.progress = 0
        self.sup = Supervisor(self.cfg, self.metrics, self._start,
                              {faults.KAFKA: self._probe}, lambda: self.progress, self.stop,
                              stop_query=lambda q: setattr(q, "stopped", True))

    def _start(self):
        self.started += 1
        item = self.starts.pop(0) if self.starts else None
        if item is None:  # a healthy query: it completes a batch, then the test ends
            threading.Timer(0.2, self._batch_done).start()
            threading.Timer(1.5, self.stop.set).start()
            return FakeQuery()
        if isinstance(item, Exception):
            raise item
        return FakeQuery(item)

    def _batch_done(self):
        self.progress += 1

    def _probe(self):
        self.probe_calls += 1
        pattern = self.probe_down
        down = (pattern[self.probe_calls - 1] if self.probe_calls <= len(pattern) else False) \
            if isinstance(pattern, list) else self.probe_calls <= pattern
        if down:
            raise ConnectionError("refused")

    def restarts(self, reason="kafka") -> float:
        return self.metrics.registry.get_sample_value("wattstream_job_restarts_total",
                                                      {"reason": reason})

    def state(self) -> str:
        return self.metrics.current_state


def test_transient_failures_restart_the_query_and_count_it():
    kafka_down = TRANSIENT_SEEN[faults.KAFKA][0]
    h = Harness([kafka_down, kafka_down])
    h.sup.run()
    assert h.started == 3
    assert h.restarts() == 2
    assert h.state() == "running"
    assert h.metrics.registry.get_sample_value("wattstream_job_retry_attempt") == 0


def test_a_failure_to_start_is_classified_like_a_failed_query():
    h = Harness([OSError("java.net.ConnectException: Call From a to b:9000 failed on "
                         "connection exception")])
    h.sup.run()
    assert h.restarts("hdfs") == 1 and h.started == 2


def test_a_permanent_fault_stops_with_its_cause_and_advice():
    h = Harness([PERMANENT_SEEN["authorization"]])
    with pytest.raises(WattstreamError, match="authorization.*grant the job's Kafka user"):
        h.sup.run()
    assert h.started == 1 and h.restarts() == 0


def test_the_job_waits_for_kafka_before_its_first_start():
    h = Harness([], probe_down=3)
    states = []
    real = h.metrics.set_state
    h.metrics.set_state = lambda s: (states.append(s), real(s))
    h.sup.run()
    assert "waiting_kafka" in states and states.index("waiting_kafka") < states.index("running")
    assert h.started == 1 and h.restarts() == 0  # nothing ran, so nothing restarted


def test_waiting_ends_as_soon_as_the_dependency_answers_again():
    """A long backoff is cut short once the probe, failing before, succeeds."""
    # Up before the start, down twice while waiting, then up again.
    h = Harness([TRANSIENT_SEEN[faults.KAFKA][0]], probe_down=[False, True, True],
                restart_initial_seconds=300, restart_max_seconds=300)
    t = threading.Timer(60, h.stop.set)  # a guard: the test fails by timing out otherwise
    t.start()
    try:
        h.sup.run()
    finally:
        t.cancel()
    assert h.started == 2 and h.restarts() == 1


def test_the_attempt_cap_ends_a_long_outage():
    h = Harness([TRANSIENT_SEEN[faults.KAFKA][0]], probe_down=10_000,
                restart_max_attempts=3)
    with pytest.raises(WattstreamError, match="after 3 restart attempts"):
        h.sup.run()


def test_healthz_answers_while_the_loop_beats(monkeypatch):
    import urllib.error
    import urllib.request

    from wattstream.job import metrics as job_metrics
    from wattstream.local.procs import free_port

    cfg = Config().replace(metrics={"job_port": free_port()})
    m = JobMetrics(cfg)
    m.serve()
    m.set_state("waiting_kafka")
    url = f"http://127.0.0.1:{cfg.metrics.job_port}/healthz"
    assert urllib.request.urlopen(url, timeout=5).read() == b"ok waiting_kafka\n"
    monkeypatch.setattr(job_metrics, "HEALTHY_BEAT_SECONDS", 0.0)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5)
    assert err.value.code == 503
    text = urllib.request.urlopen(url.replace("/healthz", "/metrics"), timeout=5).read()
    assert b'wattstream_job_state{state="waiting_kafka"} 1.0' in text
