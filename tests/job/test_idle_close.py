"""A replay finishes: `wattstream job` (a subprocess, real Kafka and Spark) on a topic that
holds a bounded replay and nothing after it closes the last windows once the input has been
idle for `windows.idle_close_seconds`; a kill -9 and restart afterwards neither reopens nor
duplicates them, and a reading for a closed window that arrives later is counted late."""

from __future__ import annotations

import urllib.request
from datetime import timedelta

import pandas as pd
import pytest
from jobkit import JobProcess, consume, produce, reading
from prometheus_client.parser import text_string_to_metric_families
from test_faults import _assert_equals_truth, _readings, _stored
from truth import windows

from wattstream.local.procs import free_port
from wattstream.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _metric(cfg, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{cfg.metrics.job_port}/metrics",
                                    timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return float("nan")
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name)


def test_a_replay_ends_with_every_window_final_exactly_once(spark, job_cfg, tmp_path):
    cfg = job_cfg.replace(windows={"idle_close_seconds": 3},
                          job={"max_offsets_per_trigger": 100, "trigger_seconds": 0.2},
                          metrics={"job_port": free_port()})
    readings = _readings(3, 30, seed=11)  # 180 readings: 6 windows of 3 buildings, no closer
    produce(cfg, readings)
    expected = len(windows(readings, cfg.windows.length_seconds))
    last = max(pd.Timestamp(r["timestamp"]) for r in readings)
    job = JobProcess(cfg, tmp_path / "job")
    job.start()
    try:
        # Without the idle close the last window (its end within the 120 s watermark of the
        # newest reading) would stay open for good.
        wait_until(lambda: len(_stored(spark, cfg)) >= expected, 240, "every window final",
                   interval=1.0, alive=job.alive)
        assert "[idle]" in job.log()
        assert _metric(cfg, "wattstream_engine_idle_closes_total") == 1
        # The idle-close record is not a malformed reading: nothing dead-lettered.
        assert consume(cfg, cfg.kafka.dead_letter_topic, timeout=3) == []
        _assert_equals_truth(spark, cfg, readings)

        job.kill9()
        late = reading("b-0", (last - timedelta(seconds=30)).to_pydatetime(), 50.0)
        produce(cfg, [late])
        job.start()
        wait_until(lambda: _metric(cfg, "wattstream_late_readings_dropped_total") >= 1, 180,
                   "the reading for a closed window counted late", interval=1.0,
                   alive=job.alive)
        # The restarted job has no open windows: it writes no other idle-close record.
        assert _metric(cfg, "wattstream_engine_idle_closes_total") == 0
        assert job.terminate() == 0, job.log()[-3000:]
    finally:
        if job.alive():
            job.kill9()
    _assert_equals_truth(spark, cfg, readings)  # the late reading changed nothing
