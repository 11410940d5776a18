"""The job's outputs on a seeded backfill stay those of the release that wrote the fixture.

A seeded topic (four buildings over three hours: out of order, late within and past the
watermark, a stuck meter, a silence, per-building thresholds and malformed messages of every
kind) goes through the real job in three AvailableNow runs; every final window, alert and dead
letter must equal the ones committed in `fixtures/golden-v1.json`. An engine change that moves
one value, one crossing reading or one reason fails here, whatever the pandas truth of
test_pipeline.py also says.

    WATTSTREAM_WRITE_GOLDEN=1 .venv/bin/python -m pytest tests/job/test_golden.py

rewrites the fixture: only for a deliberate change of results, said in the commit.
"""

from __future__ import annotations

import json
import math
import os
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from jobkit import CROSSING_PATHS, consume, produce, reading, run_available_now

from wattstream import layout

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "golden-v1.json"
T0 = datetime(2026, 2, 2, 7, 0, tzinfo=UTC)  # a Monday
BUILDINGS = ("g-0", "g-1", "g-2", "g-3")
PHASE_MINUTES = 60
# Processing time and names of the run: not part of the result.
VOLATILE = {"raised_at", "topic"}  # topic: each test run has its own
MALFORMED = (
    b"not json at all",
    b"[1, 2, 3]",
    b'{"timestamp": "2026-02-02T07:10:00Z", "building_id": "g-0"}',
    b'{"timestamp": "2026-02-02T07:10:00", "building_id": "g-0", "energy_kwh": 1.0,'
    b' "temperature": 20.0, "humidity": 50.0, "occupancy": 3, "day_of_week": 0, "hour": 7}',
    b'{"timestamp": "2026-02-02T07:10:00Z", "building_id": "g-0", "energy_kwh": "1.0",'
    b' "temperature": 20.0, "humidity": 50.0, "occupancy": 3, "day_of_week": 0, "hour": 7}',
    b'{"timestamp": "2026-02-02T07:10:00Z", "building_id": "g-0", "energy_kwh": -4.0,'
    b' "temperature": 20.0, "humidity": 50.0, "occupancy": 3, "day_of_week": 0, "hour": 7}',
    b'{"timestamp": "yesterday", "building_id": "g-1", "energy_kwh": 1.0,'
    b' "temperature": 20.0, "humidity": 50.0, "occupancy": 3, "day_of_week": 0, "hour": 7}',
    b"\xff\xfe{}",
)


def _phase(rng: random.Random, start: datetime, phase: int) -> list:
    out: list = []
    for k, b in enumerate(BUILDINGS):
        for i in range(PHASE_MINUTES * 3):
            ts = start + timedelta(seconds=20 * i + rng.randrange(0, 20))
            if b == "g-2" and phase == 1 and i < 150:
                continue  # a silence of 50 minutes: METER_GAP
            # g-0 runs hot in its second half hour (HIGH, then PEAK); g-3 repeats one value.
            hot = b == "g-0" and 30 <= (i // 3) % 60 < 45
            energy = 3.7 if b == "g-3" else rng.uniform(4.5, 7.5) if hot else rng.uniform(
                0.5, 4.0 + k)
            occ = None if rng.random() < 0.15 else rng.randrange(0, 80)
            hum = None if rng.random() < 0.15 else rng.uniform(25, 70)
            out.append(reading(b, ts, energy, rng.uniform(-8, 28), hum, occ))
    rng.shuffle(out)
    return out


def _messages() -> list[list]:
    """Per AvailableNow run, the messages produced before it, in order."""
    rng = random.Random(20260202)
    runs = []
    for phase in range(3):
        start = T0 + timedelta(minutes=PHASE_MINUTES * phase)
        msgs = _phase(rng, start, phase)
        if phase:
            newest = start - timedelta(seconds=20)
            msgs += [reading(b, newest - timedelta(seconds=70), 1.25) for b in BUILDINGS]
            msgs += [reading(b, newest - timedelta(minutes=20), 2.5) for b in BUILDINGS]
        at = rng.randrange(len(msgs))
        runs.append(msgs[:at] + list(MALFORMED[phase::3]) + msgs[at:])
    return runs


def _records(df: pd.DataFrame, keys: list[str]) -> list[dict]:
    df = df.drop(columns=[c for c in df.columns if c in VOLATILE])
    df = df.sort_values(keys, kind="stable").reset_index(drop=True)
    return [{k: _plain(v) for k, v in row.items()} for row in df.to_dict("records")]


def _plain(v):
    """A JSON value: NaN/NaT as null, times as ISO text, numpy scalars as Python's."""
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, date):  # datetime and pd.Timestamp too
        return v.isoformat()
    return _plain(v.item()) if hasattr(v, "item") else v


def _outputs(spark, cfg) -> dict:
    windows = spark.read.parquet(layout.data(cfg, "windows")).drop("date").toPandas()
    alerts = spark.read.parquet(layout.data(cfg, "alerts")).drop("batch_id").toPandas()
    letters = [json.loads(r.value) for r in consume(cfg, cfg.kafka.dead_letter_topic,
                                                      expected=len(MALFORMED))]
    return {"windows": _records(windows, ["building_id", "window_start"]),
            "alerts": _records(alerts, ["building_id", "window_start", "type"]),
            "dead_letters": _records(pd.DataFrame(letters), ["payload_base64"])}


def _same(got, want, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), (
            f"{where}: columns {sorted(got) if isinstance(got, dict) else got} != {sorted(want)}")
        for k in want:
            _same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (
            f"{where}: {len(got) if isinstance(got, list) else got} rows, want {len(want)}")
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and isinstance(got, (int, float)):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), f"{where}: {got} != {want}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


@pytest.mark.parametrize("path", CROSSING_PATHS)
def test_final_windows_alerts_and_dead_letters_equal_the_committed_release(spark, job_cfg,
                                                                           path):
    cfg = job_cfg.replace(
        alerts={"high_consumption_kwh": 55.0, "peak_demand_kwh": 70.0, "gap_seconds": 900,
                "buildings": {"g-1": {"high_consumption_kwh": 40.0}}},
        job={**CROSSING_PATHS[path], "max_offsets_per_trigger": 400})
    metrics = None
    for msgs in _messages():
        produce(cfg, msgs)
        metrics = run_available_now(spark, cfg, metrics)
    got = _outputs(spark, cfg)

    if os.environ.get("WATTSTREAM_WRITE_GOLDEN") and path == "in-pass":
        FIXTURE.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {FIXTURE.name}")
    assert FIXTURE.exists(), (f"{FIXTURE} is missing: WATTSTREAM_WRITE_GOLDEN=1 writes it from "
                              "this release")
    want = json.loads(FIXTURE.read_text())
    # The fixture must exercise what it guards.
    types = {a["type"] for a in want["alerts"]}
    assert {"HIGH_CONSUMPTION", "PEAK_DEMAND", "STUCK_METER", "METER_GAP"} <= types, types
    assert len({d["reason"] for d in want["dead_letters"]}) >= 5
    assert len(want["windows"]) >= 100
    _same(got, want, "outputs")
