"""The close rules (`detect`): ABNORMAL_USAGE on the baseline's residual (k·σ, m windows in a
row, only for models that pass Guideline 14), STUCK_METER and METER_GAP — through the engine,
its state saved and restored between batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from jobkit import flat_models, partials_of, us

from wattstream.config import Config
from wattstream.job import alerts, detect, engine

T0 = pd.Timestamp("2026-01-05 09:00")
LENGTH = 300
CFG = Config().replace(windows={"length_seconds": LENGTH, "watermark_seconds": 60},
                       alerts={"abnormal_sigma": 3.0, "abnormal_consecutive": 2,
                               "stuck_windows": 3, "gap_seconds": 600})


def _readings(building: str, start: pd.Timestamp, minutes: int, kwh_per_window,
              every_s: int = 30, stuck: bool = False) -> pd.DataFrame:
    """Readings every `every_s` for `minutes`; window energies follow `kwh_per_window` (a
    number, or one per window), with a little jitter unless the meter is `stuck`."""
    n = minutes * 60 // every_s
    ts = [start + pd.Timedelta(seconds=every_s * i) for i in range(n)]
    per = LENGTH // every_s
    totals = np.asarray(kwh_per_window, dtype=float)
    totals = np.full(n // per + 1, float(totals)) if totals.ndim == 0 else totals
    jitter = np.zeros(n) if stuck else np.tile([-0.01, 0.01], n // 2 + 1)[:n]
    return pd.DataFrame({"building_id": building, "timestamp": ts,
                         "energy_kwh": [totals[i // per] / per + jitter[i] for i in range(n)],
                         "temperature": np.nan, "humidity": np.nan, "occupancy": np.nan,
                         "partition": 0, "offset": range(n)})


def _run(batches: list[pd.DataFrame], models=None, cfg=CFG):
    """Each batch through a fresh engine restored from the last one's saved state, then a
    reading of another building soon enough after the last one to close every window without
    making anyone silent."""
    end = max(b["timestamp"].max() for b in batches)
    batches = [*batches, _readings("b-closer", end + pd.Timedelta(minutes=6), 1, 1.0)]
    e, out, closed = engine.Engine(cfg, models), [], []
    for batch in batches:
        blob = e.encode()
        e = engine.Engine(cfg, models)
        e.decode(blob)
        batch = batch.assign(ws=us(batch["timestamp"]) // 1_000_000 // LENGTH * LENGTH)
        wm = e.watermark_us()
        batch = batch if wm is None else batch[us(batch["timestamp"]) >= wm]
        step = e.apply(partials_of(batch), int(us(batch["timestamp"]).max()),
                       batch.iloc[:0][list(engine.READING_COLUMNS)], T0)
        out.append(step.alerts)
        closed.append(step.closed)
    got = pd.concat([a for a in out if len(a)] or [out[0]], ignore_index=True)
    closed = pd.concat(closed, ignore_index=True)
    return got, closed[closed["building_id"] != "b-closer"]


def test_streaks_equal_a_loop():
    rng = np.random.default_rng(0)
    b = np.sort(rng.integers(0, 4, 200))
    ws = np.zeros(200, dtype="int64")
    for i in range(200):
        step = 1 if rng.random() < 0.8 else 2
        ws[i] = 0 if i == 0 or b[i] != b[i - 1] else ws[i - 1] + step
    hit = rng.random(200) < 0.6
    first = np.r_[True, b[1:] != b[:-1]]
    prior_ws = np.where(rng.random(200) < 0.5, ws - 1, ws - 3)
    prior_streak = rng.integers(0, 4, 200)
    got = detect.streaks(first, ws, hit, prior_ws, prior_streak, 1)
    want, run = [], 0
    for i in range(200):
        prev = prior_ws[i] if first[i] else ws[i - 1]
        carry = prior_streak[i] if first[i] else run
        run = (carry + 1 if prev == ws[i] - 1 else 1) if hit[i] else 0
        want.append(run)
    assert got.tolist() == want


def test_abnormal_needs_consecutive_windows_and_fires_once_per_run():
    # Expected 10 kWh a window, sigma 1: windows of 20 kWh are 10 sigma above.
    energies = [10, 20, 10, 20, 20, 20, 20, 10, 20, 20]
    rows = _readings("b-1", T0, 50, energies)
    got, closed = _run([rows.iloc[:40], rows.iloc[40:]],
                       flat_models({"b-1": 10.0}))
    abnormal = got[got["type"] == alerts.ABNORMAL]
    # Runs of 20s: [1], [3..6], [8..9]: the first too short; one alert at the 2nd window
    # of each other run — the last run straddles the two batches.
    starts = (abnormal["window_start"] - T0) / pd.Timedelta(seconds=LENGTH)
    assert starts.tolist() == [4, 9]
    assert abnormal["threshold"].tolist() == pytest.approx([13.0, 13.0])
    assert closed["std_residual"].round(6).tolist() == [0 if e == 10 else 10 for e in energies]


def test_abnormal_stays_silent_for_a_model_failing_guideline_14_and_below_expectation():
    rows = _readings("b-1", T0, 30, [20, 20, 20, 1, 1, 1])
    failing, _ = _run([rows],
                      flat_models({"b-1": 10.0}, passes=False))
    assert failing[failing["type"] == alerts.ABNORMAL].empty
    got, _ = _run([rows], flat_models({"b-1": 10.0}))
    assert len(got[got["type"] == alerts.ABNORMAL]) == 1  # above only, by default
    both = CFG.replace(alerts={"abnormal_direction": "both"})
    got, _ = _run([rows], flat_models({"b-1": 10.0}),
                  both)
    low = got[(got["type"] == alerts.ABNORMAL) & (got["value"] < got["threshold"])]
    assert low["threshold"].tolist() == pytest.approx([7.0])


def test_a_stuck_meter_raises_stuck_meter_not_abnormal_usage():
    ok = _readings("b-1", T0, 10, 10)
    stuck = _readings("b-1", T0 + pd.Timedelta(minutes=10), 30, 25.0, stuck=True)
    got, _ = _run([pd.concat([ok, stuck])],
                  flat_models({"b-1": 10.0}))
    assert got["type"].tolist() == [alerts.STUCK]
    a = got.iloc[0]
    assert a["window_start"] == T0 + pd.Timedelta(minutes=20)  # the third stuck window
    assert (a["value"], a["threshold"]) == (15.0, 15.0)  # minutes


def test_a_gap_is_raised_once_while_it_lasts_and_not_again_when_readings_resume():
    before = _readings("b-1", T0, 10, 10)
    other = _readings("b-2", T0, 60, 10)
    after = _readings("b-1", T0 + pd.Timedelta(minutes=40), 20, 10)
    # While b-1 is silent b-2 drives the watermark on: the gap shows before b-1 resumes.
    got, _ = _run([pd.concat([before, other.iloc[:20]]), other.iloc[20:70],
                   pd.concat([other.iloc[70:], after])])
    gaps = got[got["type"] == alerts.GAP]
    assert gaps["building_id"].tolist() == ["b-1"]
    last = before["timestamp"].max()
    assert gaps["event_time"].iloc[0] == last + pd.Timedelta(seconds=600)
    assert gaps["window_start"].iloc[0] == T0 + pd.Timedelta(minutes=5)


def test_a_gap_inside_one_batch_is_found_when_its_windows_close():
    rows = pd.concat([_readings("b-1", T0, 10, 10),
                      _readings("b-1", T0 + pd.Timedelta(minutes=40), 20, 10)])
    got, _ = _run([rows])
    gaps = got[got["type"] == alerts.GAP]
    assert len(gaps) == 1
    assert gaps["value"].iloc[0] == pytest.approx(30 * 60 + 30)  # seconds between readings
    # The same silence found live has the same id.
    live = _run([pd.concat([_readings("b-1", T0, 10, 10), _readings("b-2", T0, 60, 10)])])[0]
    assert live[live["type"] == alerts.GAP]["alert_id"].tolist() == gaps["alert_id"].tolist()


def test_a_meter_reporting_once_a_window_is_stuck_when_windows_repeat_its_value():
    ok = _readings("b-1", T0, 20, [10, 11, 12, 13], every_s=LENGTH)
    stuck = _readings("b-1", T0 + pd.Timedelta(minutes=20), 25, 9.0, every_s=LENGTH,
                      stuck=True)
    got, _ = _run([pd.concat([ok, stuck])])
    assert got["type"].tolist() == [alerts.STUCK]
    # Windows 5, 6, 7 repeat window 4's value: the third of them completes the run.
    assert got["window_start"].iloc[0] == T0 + pd.Timedelta(minutes=35)
