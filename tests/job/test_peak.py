"""PEAK_AT_RISK: fires in a constructed month before the interval that sets a new peak ends,
not in a flat one; once per interval; the same whatever the micro-batches; the peak resets
with the billing month."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from jobkit import partials_of, us

from wattstream import billing
from wattstream.config import Config
from wattstream.job import alerts, engine

LENGTH = 300
CFG = Config().replace(windows={"length_seconds": LENGTH, "watermark_seconds": 60},
                       alerts={"high_consumption_kwh": 1e6, "peak_demand_kwh": 1e6,
                               "peak_lead_minutes": 5, "peak_min_history_hours": 24,
                               "peak_margin": 0.05},
                       tariff={"demand_interval_minutes": 15, "demand_charge_per_kw": 20.0,
                               "billing_day": 1})
START = pd.Timestamp("2026-03-01 00:00")


def _month(kwh_per_window, start=START, every_s: int = 60) -> pd.DataFrame:
    """Readings of b-1 every `every_s`, window energies `kwh_per_window` (one per window)."""
    per = LENGTH // every_s
    energy = np.repeat(np.asarray(kwh_per_window, dtype=float) / per, per)
    ts = start + pd.to_timedelta(np.arange(len(energy)) * every_s, unit="s")
    energy = energy * (1 + np.tile([-0.001, 0.001], len(energy) // 2 + 1)[:len(energy)])
    return pd.DataFrame({"building_id": "b-1", "timestamp": ts, "energy_kwh": energy,
                         "temperature": np.nan, "humidity": np.nan, "occupancy": np.nan,
                         "partition": 0, "offset": np.arange(len(energy))})


def _run(readings: pd.DataFrame, batches: int, models=None, cfg=CFG) -> pd.DataFrame:
    e, out = engine.Engine(cfg, models), []
    readings = readings.assign(ws=us(readings["timestamp"]) // 1_000_000 // LENGTH * LENGTH)
    for part in np.array_split(np.arange(len(readings)), batches):
        batch = readings.iloc[part]
        blob = e.encode()
        e = engine.Engine(cfg, models)
        e.decode(blob)
        step = e.apply(partials_of(batch), int(us(batch["timestamp"]).max()),
                       batch.iloc[:0][list(engine.READING_COLUMNS)], START)
        out.append(step.alerts)
    got = pd.concat([a for a in out if len(a)] or [out[0]], ignore_index=True)
    return got[got["type"] == alerts.PEAK_AT_RISK].reset_index(drop=True)


def _day(n_days: float = 2) -> list[float]:
    return [10.0] * int(n_days * 288)


def test_fires_before_a_new_peak_is_set_and_not_in_a_flat_month():
    flat = _run(_month(_day(3)), 7)
    assert flat.empty
    # Two days at 10 kWh a window (120 kW over 15 minutes), then an interval at 15, 16, 16.
    month = _month(_day(2) + [15.0, 16.0, 16.0] + [10.0] * 12)
    got = _run(month, 5)
    assert len(got) == 1
    a = got.iloc[0]
    interval = START + pd.Timedelta(days=2)
    assert a["window_start"] == interval and a["window_end"] == interval + pd.Timedelta(
        minutes=15)
    # After the first window: 15 kWh so far, projected 45 kWh = 180 kW against 120 kW.
    assert a["event_time"] == interval + pd.Timedelta(minutes=5)
    assert a["value"] == pytest.approx(180.0, rel=1e-3)
    assert a["threshold"] == pytest.approx(120.0, rel=1e-3)
    assert a["lead_minutes"] == 10.0
    assert a["extra_charge"] == pytest.approx((180.0 - 120.0) * 20.0, rel=1e-3)


def test_warns_once_per_interval_and_the_same_for_any_batching():
    # Interval A (30s) passes the 120 kW peak from its first window: one warning, not three.
    # A sets 360 kW. C (31, 40, 40): 93 kWh projected after one window is 372 kW, within the
    # 5 % margin of 360; after two, 106.5 kWh = 426 kW is past it, with 5 minutes left.
    month = _month(_day(2) + [30.0, 30.0, 30.0, 10.0, 10.0, 10.0, 31.0, 40.0, 40.0]
                   + [10.0] * 6)
    one = _run(month, 1)
    many = _run(month, 40)
    cols = ["window_start", "event_time", "value", "threshold"]
    pd.testing.assert_frame_equal(one[cols], many[cols])
    a, c = START + pd.Timedelta(days=2), START + pd.Timedelta(days=2, minutes=30)
    assert one["window_start"].tolist() == [a, c]
    assert one["event_time"].tolist() == [a + pd.Timedelta(minutes=5),
                                          c + pd.Timedelta(minutes=10)]
    assert one["threshold"].tolist() == pytest.approx([120.0, 360.0], rel=1e-3)
    assert one["value"].tolist() == pytest.approx([360.0, 426.0], rel=1e-3)


def test_no_warning_without_a_day_of_history_and_the_peak_resets_with_the_month():
    april = START + pd.Timedelta(days=31)
    # March 30-31 at 120 kW with a 960 kW interval (warned); April 1 opens at 600 kW (a new
    # peak, but April has no history yet: no warning); April 2 runs at 720 kW: past April's
    # 600 kW peak, not March's 960.
    days = _day(2)
    days[300:303] = [80.0] * 3
    month = _month(days + [50.0] * 3 + _day(1)[3:] + [60.0] * 3 + [10.0] * 3,
                   start=april - pd.Timedelta(days=2))
    got = _run(month, 6)
    march_31 = april - pd.Timedelta(hours=23)
    assert got["window_start"].tolist() == [march_31, april + pd.Timedelta(days=1)]
    assert got["threshold"].tolist() == pytest.approx([120.0, 600.0], rel=1e-3)


def test_billing_month_starts_on_the_billing_day():
    ts = pd.to_datetime(["2026-03-14 23:59", "2026-03-15 00:00", "2026-04-14 12:00"])
    s = ((ts - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).to_numpy()
    m = billing.billing_month(s, 15)
    assert m[0] + 1 == m[1] == m[2]
