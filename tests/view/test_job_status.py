"""What the view says about the job itself: its supervisor's state from /metrics (the job rides
out Kafka, HDFS and storage outages in-process), as a status line in local wall-clock time, in
`wattstream watch --plain`, and a view that goes on while the job waits."""

import time
from dataclasses import replace
from datetime import datetime

import pytest

from wattstream.view import collect, scrape
from wattstream.view.plain import job_line
from wattstream.view.render import job_status_text, summary, to_text
from wattstream.view.snapshot import Building, JobStatus, Snapshot

STATES = ("starting", "running", "waiting_kafka", "waiting_hdfs", "waiting_storage",
          "restarting")


@pytest.fixture
def local_zone(monkeypatch):
    """A local zone that is not UTC, so that a UTC rendering would show: New York."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def local(h: int, m: int, s: int, day: int = 2) -> float:
    """Unix time of a local wall-clock time on 2026-12-<day>."""
    return datetime(2026, 12, day, h, m, s).timestamp()


def exposition(state: str, since: float = 0.0, attempt: int = 0, next_retry: float = 0.0,
               restarts: dict | None = None, last_batch: float = 0.0) -> str:
    """The job's supervisor series in the text format its prometheus-client serves."""
    restarts = {"kafka": 0, "hdfs": 0, "storage": 0, **(restarts or {})}
    lines = ["# HELP wattstream_job_state 1 for the job's current state",
             "# TYPE wattstream_job_state gauge"]
    lines += [f'wattstream_job_state{{state="{s}"}} {1.0 if s == state else 0.0}'
              for s in STATES]
    lines += ["# HELP wattstream_job_restarts_total in-process restarts",
              "# TYPE wattstream_job_restarts_total counter"]
    lines += [f'wattstream_job_restarts_total{{reason="{r}"}} {float(n)}'
              for r, n in restarts.items()]
    lines += [f'wattstream_job_restarts_created{{reason="{r}"}} 1.7e9' for r in restarts]
    for name, value in (("last_batch_timestamp_seconds", last_batch),
                        ("waiting_since_timestamp_seconds", since),
                        ("retry_attempt", attempt),
                        ("next_retry_timestamp_seconds", next_retry)):
        lines += [f"# TYPE wattstream_job_{name} gauge", f"wattstream_job_{name} {float(value)}"]
    lines += ["# TYPE wattstream_readings_processed counter",
              "wattstream_readings_processed_total 1234.0"]
    return "\n".join(lines) + "\n"


def status(text: str, now: float, previous: JobStatus | None = None) -> JobStatus | None:
    return collect.job_status(scrape.parse(text), now, previous)


def test_a_job_waiting_for_kafka_says_since_when_and_when_it_retries(local_zone):
    since = local(10, 4, 12)
    now = since + 75.4
    j = status(exposition("waiting_kafka", since=since, attempt=5, next_retry=now + 16.2,
                          restarts={"kafka": 4}, last_batch=since - 3), now)
    assert (j.state, j.reason, j.since, j.attempt, j.waiting) == (
        "waiting_kafka", "kafka", since, 5, True)
    assert j.next_retry == pytest.approx(now + 16.2)
    assert j.restarts == (("kafka", 4),)
    assert job_status_text(j) == ("job: kafka unreachable since 10:04:12, retrying (attempt 5, "
                                  "next in 16 s) · 4 in-process restarts (kafka 4)")


def test_the_time_is_local_wall_clock_and_dated_when_not_today(local_zone):
    since = local(23, 59, 58, day=1)
    j = status(exposition("waiting_hdfs", since=since, attempt=1, next_retry=0), local(0, 0, 30))
    assert job_status_text(j) == "job: hdfs unreachable since 2026-12-01 23:59:58, retrying " \
                                 "(attempt 1)"
    # Not UTC: 10:04:12 in New York is 15:04:12 UTC.
    text = job_status_text(status(exposition("waiting_storage", since=local(10, 4, 12)),
                                  local(10, 5, 0)))
    assert text == "job: storage unreachable since 10:04:12, retrying"


def test_a_retry_that_is_due_counts_down_to_zero_never_below(local_zone):
    now = local(10, 10, 0)
    j = status(exposition("waiting_kafka", since=now - 600, attempt=12, next_retry=now - 3), now)
    assert "(attempt 12, next in 0 s)" in job_status_text(j)


def test_restarting_names_the_outage_it_restarts_after(local_zone):
    since = local(10, 4, 12)
    waiting = status(exposition("waiting_kafka", since=since, attempt=5,
                                next_retry=since + 60), since + 50)
    restarting = status(exposition("restarting", since=since, attempt=5,
                                   restarts={"kafka": 1}), since + 62, previous=waiting)
    assert (restarting.state, restarting.reason) == ("restarting", "kafka")
    assert job_status_text(restarting) == (
        "job: restarting the query from its checkpoint (kafka unreachable since 10:04:12, "
        "attempt 5) … · 1 in-process restart (kafka 1)")
    # Seen only restarting: the counter that rose since the last scrape names the reason.
    before = status(exposition("running", restarts={"hdfs": 2}), since - 30)
    after = status(exposition("restarting", since=since, attempt=1,
                              restarts={"hdfs": 3}), since + 5, previous=before)
    assert after.reason == "hdfs"
    # Without any previous scrape it says what it knows.
    alone = status(exposition("restarting", since=since, attempt=2), since + 5)
    assert alone.reason is None
    assert job_status_text(alone) == "job: restarting the query from its checkpoint " \
                                     "(attempt 2) …"


def test_a_running_job_shows_its_last_batch_and_past_restarts(local_zone):
    now = local(11, 0, 0)
    j = status(exposition("running", last_batch=local(10, 59, 59),
                          restarts={"kafka": 2, "hdfs": 1}), now)
    assert (j.state, j.since, j.reason, j.next_retry) == ("running", None, None, None)
    assert job_status_text(j) == ("job: running · last batch 10:59:59 · 3 in-process restarts "
                                  "(kafka 2, hdfs 1)")
    assert job_status_text(status(exposition("running"), now)) == "job: running"
    assert job_status_text(status(exposition("starting"), now)) == \
        "job: starting (Spark, then the query) …"


def test_no_state_series_means_no_status():
    assert collect.job_status(None, 0.0) is None
    assert collect.job_status(scrape.parse("wattstream_readings_processed_total 3.0\n"),
                              0.0) is None


def test_the_real_job_metrics_parse_into_a_status():
    """The job's own registry (job/metrics.py) speaks the contract the view reads."""
    from prometheus_client import generate_latest

    from wattstream.config import Config
    from wattstream.job.metrics import JobMetrics

    m = JobMetrics(Config())
    now = time.time()
    m.set_state("waiting_kafka")
    m.set_outage(now - 40, 3, now + 8)
    m.restarts.labels("kafka").inc(2)
    j = collect.job_status(scrape.parse(generate_latest(m.registry).decode()), now)
    assert (j.state, j.reason, j.attempt, j.restarts) == ("waiting_kafka", "kafka", 3,
                                                          (("kafka", 2),))
    assert j.since == pytest.approx(now - 40) and j.next_retry == pytest.approx(now + 8)


# --- on screen ---------------------------------------------------------------------------------

def _snapshot(job: JobStatus | None, **changes) -> Snapshot:
    base = Snapshot(elapsed_s=300, services=(("kafka", False), ("job", True)),
                    buildings=tuple(Building(f"b{i}", 10.0 * i, 150.0) for i in range(5)),
                    job=job, links=(("job metrics", "http://127.0.0.1:9108/metrics"),))
    return replace(base, **changes)


def _waiting(local_zone_unused=None) -> JobStatus:
    since = local(10, 4, 12)
    return JobStatus("waiting_kafka", at=since + 60, since=since, attempt=5,
                     next_retry=since + 76, reason="kafka", restarts=(("kafka", 4),))


def test_the_screen_says_kafka_is_unreachable_under_the_header(local_zone):
    text = to_text(_snapshot(_waiting()), 120)
    lines = text.splitlines()
    assert lines[3].startswith("job: kafka unreachable since 10:04:12, retrying (attempt 5, "
                               "next in 16 s)")
    assert "fleet: 5 buildings" in text  # the rest of the screen stays


def test_no_status_line_without_a_job_state():
    text = to_text(_snapshot(None), 120)
    assert "job:" not in text


@pytest.mark.parametrize("width", [40, 63, 80, 120])
def test_the_status_line_wraps_within_the_terminal(local_zone, width):
    text = to_text(_snapshot(_waiting()), width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "next in 16 s" in text.replace("\n", " ")


def test_the_screen_still_fits_its_height_with_the_status_line(local_zone):
    many = tuple(Building(f"b{i:03d}", 200.0 - i, 150.0) for i in range(200))
    text = to_text(_snapshot(_waiting(), buildings=many), 120, height=30)
    assert len(text.splitlines()) <= 30 and "next in 16 s" in text
    # Wrapped on two lines, it takes two fleet rows, not more of the screen.
    for width in (60, 120):
        without = to_text(_snapshot(None, buildings=many), width, height=30)
        with_line = to_text(_snapshot(_waiting(), buildings=many), width, height=30)
        assert len(with_line.splitlines()) <= len(without.splitlines()), width


def test_the_summary_counts_the_jobs_restarts():
    text = summary(_snapshot(JobStatus("running", at=0.0, restarts=(("kafka", 2),))), "—")
    assert "  job        2 in-process restarts (kafka 2)" in text
    assert "restart" not in summary(_snapshot(JobStatus("running", at=0.0)), "—")


# --- the view goes on while the job waits ------------------------------------------------------

class _NoFeed:
    """The collector's alert feed, with no alerts: this test is about the job's state."""

    def __init__(self, *args, **kwargs):
        """Takes the real feed's arguments and connects nowhere."""

    def poll(self):
        return []

    def close(self):
        """Nothing to close."""


def test_the_collector_follows_the_job_through_an_outage_and_back(monkeypatch):
    """Scrapes of a job that runs, waits for Kafka (its /metrics up), restarts and runs again:
    every snapshot is taken, none ends the view, and the state follows."""
    from wattstream.config import Config

    now = time.time()
    pages = iter([
        exposition("running", last_batch=now - 1),
        exposition("waiting_kafka", since=now - 5, attempt=1, next_retry=now + 1),
        exposition("waiting_kafka", since=now - 5, attempt=2, next_retry=now + 2),
        None,  # one scrape lost (a slow answer)
        exposition("restarting", since=now - 5, attempt=2, restarts={"kafka": 1}),
        exposition("running", last_batch=now, restarts={"kafka": 1}),
    ])
    monkeypatch.setattr(collect, "AlertFeed", _NoFeed)

    def fake_scrape(url, timeout=1.0):
        if "9109" in url:
            return None
        page = next(pages)
        return scrape.parse(page) if page else None

    monkeypatch.setattr(collect.scrape, "scrape", fake_scrape)
    c = collect.Collector(Config(), since=now)
    seen = []
    for _ in range(6):
        s = c.snapshot()
        seen.append((s.job.state, s.job.reason) if s.job else None)
    c.close()
    assert seen == [("running", None), ("waiting_kafka", "kafka"), ("waiting_kafka", "kafka"),
                    None, ("restarting", None), ("running", None)]
    assert s.readings_processed == 1234 and s.job.restarts == (("kafka", 1),)


def test_plain_watch_prints_a_job_line_when_its_state_or_attempt_changes(capsys, local_zone):
    since = local(10, 4, 12)
    w1 = JobStatus("waiting_kafka", at=since + 1, since=since, attempt=1, next_retry=since + 2,
                   reason="kafka")
    key = job_line(JobStatus("running", at=since - 5), None)
    key = job_line(w1, key)
    key = job_line(replace(w1, at=since + 1.5), key)  # the same attempt: nothing new
    key = job_line(replace(w1, attempt=2, next_retry=since + 4, at=since + 2), key)
    key = job_line(None, key)
    out = capsys.readouterr().out.splitlines()
    assert out == ["[job] running",
                   "[job] kafka unreachable since 10:04:12, retrying (attempt 1, next in 1 s)",
                   "[job] kafka unreachable since 10:04:12, retrying (attempt 2, next in 2 s)",
                   "[job] its /metrics does not answer"]
