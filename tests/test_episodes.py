"""Episodes: back-to-back windows of one building and type are one episode; a window without
the alert, another type or another building starts a new one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from wattstream import episodes

T0 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
W = 300


def _alert(building, kind, window, value, event_offset=60):
    ws = T0 + timedelta(seconds=W * window)
    return {"building_id": building, "type": kind, "window_start": ws,
            "window_end": ws + timedelta(seconds=W), "value": value,
            "event_time": ws + timedelta(seconds=event_offset)}


def test_consecutive_windows_are_one_episode_and_a_gap_starts_another():
    rows = [_alert("B1", "HIGH_CONSUMPTION", w, 150 + w) for w in (0, 1, 2, 3)]
    rows += [_alert("B1", "HIGH_CONSUMPTION", 5, 170)]  # window 4 had no alert
    rows += [_alert("B1", "PEAK_DEMAND", 2, 185), _alert("B2", "HIGH_CONSUMPTION", 1, 151)]
    rows += [_alert("B1", "HIGH_CONSUMPTION", 2, 152)]  # a replay of window 2
    e = episodes.frame(pd.DataFrame(rows), W)
    got = [(r.building_id, r.type, r.windows, r.worst, r.start.minute, r.end.minute)
           for r in e.itertuples()]
    assert got == [("B1", "HIGH_CONSUMPTION", 4, 153, 0, 20),
                   ("B1", "PEAK_DEMAND", 1, 185, 10, 15),
                   ("B1", "HIGH_CONSUMPTION", 1, 170, 25, 30),
                   ("B2", "HIGH_CONSUMPTION", 1, 151, 5, 10)]
    assert e.iloc[0]["first_event"] == pd.Timestamp(T0 + timedelta(seconds=60))


def test_unordered_input_and_missing_window_end():
    rows = [_alert("B1", "HIGH_CONSUMPTION", w, 150) for w in (3, 0, 2, 1)]
    df = pd.DataFrame(rows).drop(columns=["window_end", "event_time"])
    e = episodes.frame(df, W)
    assert len(e) == 1 and e.iloc[0]["windows"] == 4


def test_per_building_totals():
    rows = [_alert("B1", "HIGH_CONSUMPTION", w, 150) for w in (0, 1, 2, 6, 7)]
    rows += [_alert("B2", "METER_GAP", 0, 900)]
    t = episodes.per_building(episodes.frame(pd.DataFrame(rows), W))
    assert t.round({"hours": 6}).to_dict("records") == [
        {"building_id": "B1", "episodes": 2, "windows": 5, "longest": 3, "hours": 0.416667},
        {"building_id": "B2", "episodes": 1, "windows": 1, "longest": 1, "hours": 0.083333}]


def test_the_incremental_form_follows_the_same_rule():
    first = _alert("B1", "HIGH_CONSUMPTION", 0, 150)
    ep = episodes.Episode("HIGH_CONSUMPTION", "B1", first["window_start"], first["window_end"],
                          1, 150, 150, first["event_time"])
    nxt = _alert("B1", "HIGH_CONSUMPTION", 1, 160)
    assert episodes.continues(ep.end, nxt["window_start"])
    ep = ep.extend(nxt["window_start"], nxt["window_end"], 160, 150)
    assert (ep.windows, ep.worst) == (2, 160)
    assert ep.extend(nxt["window_start"], nxt["window_end"], 155, 150).windows == 2  # repeat
    later = _alert("B1", "HIGH_CONSUMPTION", 3, 150)
    assert not episodes.continues(ep.end, later["window_start"])
    assert episodes.frame(pd.DataFrame([first, nxt, later]), W)["windows"].tolist() == [2, 1]


def test_no_alerts_no_episodes():
    assert episodes.frame(pd.DataFrame(), W).empty
    assert episodes.per_building(episodes.frame(pd.DataFrame(), W)).empty
