"""`wattstream baseline` from stored windows, and ABNORMAL_USAGE on closed windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from jobkit import produce, reading, run_available_now

from wattstream.job import alerts, baseline, sinks

pytestmark = pytest.mark.integration

MONDAY_9 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _window(building: str, start: datetime, total: float, n: int = 10) -> list[dict]:
    return [reading(building, start + timedelta(seconds=25 * i), total / n) for i in range(n)]


def _closer(after: datetime) -> dict:
    return reading("b-closer", after + timedelta(hours=1), 0.1)


def test_abnormal_usage_against_hour_of_week_baseline(spark, job_cfg):
    cfg = job_cfg.replace(alerts={"abnormal_sigma": 3.0})
    history = {"b-1": [10.0, 12.0, 11.0], "b-2": [20.0, 22.0, 21.0]}
    weeks = [MONDAY_9 + timedelta(weeks=w) for w in range(4)]
    past = [r for b, totals in history.items()
            for start, total in zip(weeks, totals, strict=False) for r in _window(b, start, total)]
    produce(cfg, past + [_closer(weeks[2])])
    m = run_available_now(spark, cfg)
    assert m.baseline_loaded._value.get() == 0
    # Without a baseline the rule is silent (and no threshold alert fits these energies).
    assert not _exists(spark, sinks.storage(cfg, "alerts"))

    assert baseline.build(spark, cfg) > 0
    table = spark.read.parquet(baseline.location(cfg)).toPandas().set_index(
        ["building_id", "hour_of_week"])
    for b, totals in history.items():
        row = table.loc[(b, 9)]
        assert row["windows"] == 3
        assert row["mean_kwh"] == pytest.approx(pd.Series(totals).mean())
        assert row["std_kwh"] == pytest.approx(pd.Series(totals).std())

    # Week 4: b-1 far above its Monday-09 baseline (mean 11, std 1), b-2 ordinary.
    produce(cfg, _window("b-1", weeks[3], 30.0) + _window("b-2", weeks[3], 21.5)
            + [_closer(weeks[3])])
    m = run_available_now(spark, cfg)
    assert m.baseline_loaded._value.get() == 1
    got = spark.read.parquet(sinks.storage(cfg, "alerts")).toPandas()
    got = got[got["type"] == alerts.ABNORMAL]
    assert list(got["building_id"]) == ["b-1"]
    assert got["value"].iloc[0] == pytest.approx(30.0)
    assert got["threshold"].iloc[0] == pytest.approx(11.0 + 3 * 1.0)
    assert got["window_start"].iloc[0] == pd.Timestamp(weeks[3]).tz_convert(None)


def _exists(spark, path: str) -> bool:
    try:
        spark.read.parquet(path)
        return True
    except Exception:  # noqa: BLE001
        return False


def test_abnormal_rule_needs_enough_history():
    ws = pd.Timestamp("2026-01-05 09:00")
    now = pd.Timestamp("2026-01-05 09:06")

    def verdict(energy, stats):
        window = pd.DataFrame({"building_id": ["b"], "window_start": [ws],
                               "window_end": [ws + pd.Timedelta(minutes=5)],
                               "hour_of_week": [9], "energy_kwh": [energy]})
        table = None if stats is None else pd.DataFrame(
            [("b", 9, *stats)], columns=list(alerts.BASELINE_COLUMNS))
        got = alerts.abnormal(window, table, 3.0, now)
        assert len(got) <= 1
        return None if got.empty else got["threshold"].iloc[0]

    assert verdict(30.0, None) is None
    assert verdict(30.0, (11.0, 1.0, 2)) is None  # two windows are not a baseline
    assert verdict(30.0, (11.0, 0.0, 5)) is None  # constant history: no sigma
    assert verdict(30.0, (11.0, 1.0, 3)) == 14.0
    assert verdict(5.0, (11.0, 1.0, 3)) == 8.0
    assert verdict(13.0, (11.0, 1.0, 3)) is None


def test_alert_id_is_deterministic():
    ws = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    a = alerts.alert_id("b-1", ws, alerts.HIGH)
    assert a == alerts.alert_id("b-1", ws.astimezone(), alerts.HIGH)
    assert a != alerts.alert_id("b-1", ws, alerts.PEAK)
    assert a != alerts.alert_id("b-2", ws, alerts.HIGH)
