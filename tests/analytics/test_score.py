"""The scorer against hand-built alerts and labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wattstream.analytics import score

T = pd.Timestamp("2026-02-02 00:00")


def _m(minutes: float) -> pd.Timestamp:
    return T + pd.Timedelta(minutes=minutes)


def _labels(tmp_path, rows):
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps({"building": b, "start": f"{s.isoformat()}Z",
                                        "end": f"{e.isoformat()}Z", "kind": k}) + "\n"
                            for b, s, e, k in rows))
    return score.read_labels(path)


def _alerts(rows):
    return pd.DataFrame(rows, columns=["building_id", "type", "event_time"])


def test_matches_kinds_to_their_alert_types(tmp_path):
    labels = _labels(tmp_path, [
        ("b1", _m(60), _m(90), "equipment_spike"),      # found 10 min in
        ("b2", _m(60), _m(300), "hvac_overnight"),      # found 20 min in, twice
        ("b3", _m(100), _m(200), "stuck_meter"),        # missed
        ("b4", _m(100), _m(130), "sensor_dropout"),     # found 10 min after it ended
        ("b5", _m(100), _m(130), "equipment_spike"),    # only a STUCK_METER: mislabelled
        ("b9", _m(-60), _m(-30), "equipment_spike"),    # before the period: not scored
    ])
    alerts = _alerts([
        ("b1", "ABNORMAL_USAGE", _m(70)),
        ("b2", "ABNORMAL_USAGE", _m(80)), ("b2", "ABNORMAL_USAGE", _m(200)),
        ("b4", "METER_GAP", _m(140)),
        ("b5", "STUCK_METER", _m(110)),
        ("b6", "ABNORMAL_USAGE", _m(500)),              # no label: false
        ("b1", "HIGH_CONSUMPTION", _m(71)),             # a threshold: not scored
    ])
    r = score.score(alerts, labels, buildings=10, since=T, until=_m(30.44 * 1440))
    kinds = {k["kind"]: k for k in r.kinds}
    assert kinds["equipment_spike"]["labels"] == 2 and kinds["equipment_spike"]["detected"] == 1
    assert kinds["equipment_spike"]["delay_median_min"] == 10.0
    assert kinds["hvac_overnight"]["detected"] == 1
    assert kinds["hvac_overnight"]["delay_median_min"] == 20.0
    assert kinds["stuck_meter"]["detected"] == 0 and kinds["stuck_meter"]["recall"] == 0
    assert kinds["sensor_dropout"]["delay_median_min"] == 40.0
    types = {t["type"]: t for t in r.types}
    assert types["ABNORMAL_USAGE"] == {"type": "ABNORMAL_USAGE", "alerts": 4, "scored": True,
                                       "correct": 3, "other_kind": 0, "false": 1,
                                       "precision": 0.75}
    assert types["STUCK_METER"]["other_kind"] == 1 and types["STUCK_METER"]["precision"] == 0
    assert types["HIGH_CONSUMPTION"] == {"type": "HIGH_CONSUMPTION", "alerts": 1,
                                         "scored": False}
    o = r.overall
    assert o["precision"] == pytest.approx(4 / 6)   # 3 ABNORMAL + 1 GAP of 6 detecting alerts
    assert o["recall"] == pytest.approx(3 / 5)
    assert o["f1"] == pytest.approx(2 * (4 / 6) * (3 / 5) / (4 / 6 + 3 / 5))
    assert o["building_months"] == pytest.approx(10.0)
    assert o["false_abnormal_per_building_month"] == pytest.approx(0.1)
    text = score.table(r)
    assert "equipment_spike" in text and "F1 0.63" in text


def test_an_alert_after_the_tolerance_does_not_match(tmp_path):
    labels = _labels(tmp_path, [("b1", _m(0), _m(30), "equipment_spike")])
    late = _alerts([("b1", "ABNORMAL_USAGE", _m(41))])
    r = score.score(late, labels, buildings=1, since=T, until=_m(1440))
    assert r.overall["recall"] == 0 and r.types[0]["false"] == 1
    r = score.score(late, labels, buildings=1, since=T, until=_m(1440),
                    tolerance=pd.Timedelta(minutes=15))
    assert r.overall["recall"] == 1 and r.overall["precision"] == 1


def test_no_alerts_and_no_labels_say_so():
    empty = _alerts([])
    labels = pd.DataFrame(columns=["building_id", "start", "end", "kind"])
    r = score.score(empty, labels, buildings=3, since=T, until=_m(60))
    assert r.overall["f1"] is None and r.overall["false_abnormal_per_building_month"] == 0
    assert "F1 -" in score.table(r)


def test_peak_warnings_against_the_new_peaks_of_the_windows():
    # One building, 15-minute intervals of three 5-minute windows: a day at 10 kWh a window,
    # then intervals at 20 (new peak, warned 10 min ahead), 10, 30 (new peak, not warned) and
    # 10 (warned, no new peak).
    energies = [10.0] * 288 + [20.0] * 3 + [10.0] * 3 + [30.0] * 3 + [10.0] * 3
    starts = T + pd.to_timedelta(np.arange(len(energies)) * 300, unit="s")
    windows = pd.DataFrame({"building_id": "b1", "window_start": starts,
                            "energy_kwh": energies})
    day = T + pd.Timedelta(days=1)
    alerts = pd.DataFrame({"building_id": "b1", "type": "PEAK_AT_RISK",
                           "window_start": [day, day + pd.Timedelta(minutes=45)],
                           "event_time": [day + pd.Timedelta(minutes=5),
                                          day + pd.Timedelta(minutes=50)]})
    p = score.peak_warnings(windows, alerts, interval_s=900, length_s=300, billing_day=1,
                            min_history_hours=24, since=T, until=T + pd.Timedelta(days=2))
    assert p == {"new_peaks": 2, "warned": 1, "share_warned": 0.5, "lead_median_min": 10.0,
                 "lead_min_min": 10.0, "warnings": 2, "precision": 0.5}
    assert "1 of 2 new monthly peaks" in score.peak_table(p)
