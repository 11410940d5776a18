"""Crash and outage tests of the job as a subprocess: SIGKILL mid-stream and restart (file:// and
hdfs://), and a broker restart; the final windows must equal the truth with no duplicates."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from jobkit import JobProcess, produce, reading
from truth import windows

from wattstream import layout
from wattstream.local.procs import free_port
from wattstream.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)


def _readings(n_buildings: int, minutes: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = [reading(f"b-{b}", T0 + timedelta(seconds=30 * i + rng.randrange(30)),
                   rng.uniform(0.5, 3.0), rng.uniform(0, 25))
           for i in range(minutes * 2) for b in range(n_buildings)]
    return out


def _closer(readings: list[dict]) -> dict:
    """One reading far ahead, so the watermark closes every window of the test."""
    last = max(pd.Timestamp(r["timestamp"]) for r in readings).to_pydatetime()
    return reading("b-closer", last + timedelta(hours=1), 0.1)


def _stored(spark, cfg) -> pd.DataFrame:
    try:
        return spark.read.parquet(layout.data(cfg, "windows")).toPandas()
    except Exception:  # noqa: BLE001 - nothing committed yet
        return pd.DataFrame(columns=["building_id", "window_start"])


def _assert_equals_truth(spark, cfg, readings):
    got = _stored(spark, cfg)
    got = got[got["building_id"] != "b-closer"]
    want = windows(readings, cfg.windows.length_seconds)
    assert not got.duplicated(["building_id", "window_start"]).any(), "duplicate windows"
    got = got.sort_values(["building_id", "window_start"]).reset_index(drop=True)
    assert list(zip(got["building_id"], got["window_start"], strict=True)) == list(
        zip(want["building_id"], want["window_start"], strict=True))
    assert (got["readings"].to_numpy() == want["readings"].to_numpy()).all()
    pd.testing.assert_series_equal(got["energy_kwh"], want["energy_kwh"], rtol=1e-9)


def _kill_restart_run(spark, cfg, tmp_path, kills: tuple[float, ...]):
    cfg = cfg.replace(job={"max_offsets_per_trigger": 100, "trigger_seconds": 0.2},
                      metrics={"job_port": free_port()})
    readings = _readings(4, 90, seed=3)  # 720 readings, 18 windows of 4 buildings
    produce(cfg, readings + [_closer(readings)])
    job = JobProcess(cfg, tmp_path / "job")
    expected = len(windows(readings, cfg.windows.length_seconds))
    for fraction in kills:
        job.start()
        # Kill once this run has stored some more windows, but not all: mid-stream.
        wait_until(lambda: len(_stored(spark, cfg)) >= fraction * expected, 180,  # noqa: B023
                   "job progress", interval=1.0, alive=job.alive)
        job.kill9()
        assert len(_stored(spark, cfg)) < expected, "the kill came after the stream ended"
    job.start()
    wait_until(lambda: len(_stored(spark, cfg)) >= expected, 240, "all windows",
               interval=1.0, alive=job.alive)
    assert job.terminate() == 0, job.log()[-3000:]
    assert "[job] stopped" in job.log()
    _assert_equals_truth(spark, cfg, readings)


def test_kill9_mid_stream_and_restart_neither_loses_nor_duplicates(spark, job_cfg, tmp_path):
    _kill_restart_run(spark, job_cfg, tmp_path, kills=(0.25, 0.6))


def test_kill9_and_restart_on_hdfs(spark, job_cfg, hdfs_cfg, tmp_path):
    root = hdfs_cfg.storage.uri.rsplit("/", 1)[0] + f"/{tmp_path.name}"
    cfg = job_cfg.replace(storage={"uri": f"{root}/warehouse",
                                   "checkpoint_uri": f"{root}/checkpoints"})
    _kill_restart_run(spark, cfg, tmp_path, kills=(0.4,))
