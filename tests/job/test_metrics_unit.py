"""The listener's arithmetic and the per-building cap, without Spark."""

from __future__ import annotations

from datetime import datetime

from wattstream.config import Config
from wattstream.job.metrics import JobMetrics, ProgressListener


def _progress(dropped: int, end: dict, latest: dict) -> dict:
    return {"batchDuration": 1500, "numInputRows": 10, "inputRowsPerSecond": 12.5,
            "processedRowsPerSecond": 20.0,
            "stateOperators": [{"numRowsDroppedByWatermark": dropped}],
            "sources": [{"endOffset": end, "latestOffset": latest}]}


def test_lag_is_summed_over_partitions_and_late_rows_counted_for_windows_only():
    m = JobMetrics(Config())
    listener = ProgressListener(m)
    end = {"t": {"0": 100, "1": 40}}
    latest = {"t": {"0": 130, "1": 45}}
    listener.on_progress("windows", _progress(3, end, latest))
    listener.on_progress("alerts", _progress(7, end, latest))
    listener.on_progress("windows", _progress(2, '{"t": {"0": 130, "1": 45}}', latest))
    assert m.late._value.get() == 5
    assert m.lag.labels("alerts")._value.get() == 35
    assert m.lag.labels("windows")._value.get() == 0  # offsets given as JSON text
    assert m.input_rate.labels("windows")._value.get() == 12.5
    assert m.last_progress.labels("windows")._value.get() > 0
    samples = {s.name: s.value for metric in m.batch.collect() for s in metric.samples
               if s.labels.get("query") == "windows"}
    assert samples["wattstream_batch_duration_seconds_count"] == 2
    assert samples["wattstream_batch_duration_seconds_sum"] == 3.0


def test_per_building_series_are_capped_and_show_the_newest_window():
    m = JobMetrics(Config().replace(metrics={"max_buildings": 2}))
    t1, t2 = datetime(2026, 1, 5, 9, 0), datetime(2026, 1, 5, 9, 5)
    row = {"energy_kwh": 10.0, "avg_kwh": 1.0, "peak_kwh": 2.0, "avg_temperature": 20.0,
           "avg_humidity": None, "avg_occupancy": 3.0}
    for b in ("a", "b", "c"):
        m.set_window({**row, "building_id": b, "window_start": t2})
    m.set_window({**row, "building_id": "a", "window_start": t1, "energy_kwh": 99.0})
    assert m.window["energy_kwh"].labels("a")._value.get() == 10.0  # older window ignored
    names = {s.labels["building"] for metric in m.window["energy_kwh"].collect()
             for s in metric.samples}
    assert names == {"a", "b"}
    assert m.over_cap._value.get() == 1
    m.count_alert("c", "HIGH_CONSUMPTION")
    assert m.alerts.labels("_other", "HIGH_CONSUMPTION")._value.get() == 1
