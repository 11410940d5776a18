"""`running.fold`, the vectorised per-group fold behind alerts and the live view, against a
reading-by-reading reference over random batches with late and out-of-order readings."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from wattstream.config import Config
from wattstream.job import alerts, running

LENGTH = 300
T0 = pd.Timestamp("2026-04-06 08:00:00")


def _cfg(**alerts_cfg) -> Config:
    return Config().replace(windows={"length_seconds": LENGTH},
                            alerts={"high_consumption_kwh": 20.0, "peak_demand_kwh": 26.0,
                                    **alerts_cfg})


def _batches(seed: int, n_batches: int = 6, buildings: int = 5):
    """Readings in batches: event time drifts forward, some arrive out of order or late;
    the watermark of batch k is 2 minutes behind the newest event time of batches < k."""
    rnd = random.Random(seed)
    out, offset, newest = [], 0, None
    for k in range(n_batches):
        wm = 0 if newest is None else int((newest - pd.Timedelta(minutes=2)).timestamp() * 1000)
        rows = []
        for _ in range(rnd.randint(0, 40)):
            ts = T0 + pd.Timedelta(seconds=rnd.randint(0, 150) + 120 * k - rnd.choice(
                [0, 0, 0, 30, 200, 400]))
            humidity = None if rnd.random() < 0.2 else rnd.uniform(20, 80)
            occupancy = None if rnd.random() < 0.2 else float(rnd.randint(0, 50))
            rows.append({"building_id": f"b{rnd.randint(1, buildings)}",
                         "ws": int(ts.timestamp()) // LENGTH * LENGTH, "timestamp": ts,
                         "energy_kwh": round(rnd.uniform(0, 4), 3),
                         "temperature": rnd.uniform(-5, 30), "humidity": humidity,
                         "occupancy": occupancy, "hour": float(ts.hour),
                         "partition": rnd.randint(0, 1),
                         "offset": offset})
            offset += 1
        df = pd.DataFrame(rows, columns=["building_id", "ws", "timestamp", "energy_kwh",
                                         "temperature", "humidity", "occupancy", "hour",
                                         "partition", "offset"])
        df["timestamp"] = pd.to_datetime(df["timestamp"])
        if len(df):
            newest = max(newest or df["timestamp"].max(), df["timestamp"].max())
        out.append((df.sample(frac=1, random_state=seed + k), wm))
    return out


def _reference(batches, cfg: Config):
    """Reading by reading: (alerts, last window row per key, closed keys in order)."""
    open_, fired, alerts_, windows, closed = {}, set(), [], {}, []
    for df, wm in batches:
        ms = (df["timestamp"] - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1)
        keep = df[ms >= wm].sort_values(["building_id", "ws", "timestamp", "partition",
                                         "offset"])
        for r in keep.itertuples():
            key = (r.building_id, r.ws)
            w = open_.setdefault(key, [])
            w.append(r)
            energy = sum(x.energy_kwh for x in w)
            high, peak = cfg.alerts.thresholds(r.building_id)
            for kind, thr in ((alerts.HIGH, high), (alerts.PEAK, peak)):
                if energy > thr and (key, kind) not in fired:
                    fired.add((key, kind))
                    alerts_.append((r.building_id, r.ws, kind, r.timestamp, energy, thr))
            windows[key] = w
        for key in sorted(k for k in open_ if (k[1] + LENGTH) * 1000 <= wm):
            closed.append(key)
            del open_[key]
    return alerts_, windows, closed


def _fold_all(batches, cfg: Config, baseline=None):
    rules = running.Rules.of(cfg, baseline)
    state, outs = running.empty_state(), []
    now = pd.Timestamp("2026-11-26 00:00:00")
    for df, wm in batches:
        # Through the state's byte form, as between micro-batches.
        state = running.decode_state(running.encode_state(state))
        state, rows = running.fold(state, df, wm, rules, now)
        if len(rows):
            outs.append(rows)
    return state, running._finish(pd.concat(outs, ignore_index=True) if outs else rows)


@pytest.mark.parametrize("seed", range(12))
def test_fold_matches_a_reading_by_reading_reference(seed):
    cfg = _cfg(buildings={"b2": {"high_consumption_kwh": 5.0, "peak_demand_kwh": 9.0}})
    batches = _batches(seed)
    want_alerts, want_windows, _ = _reference(batches, cfg)
    _, out = _fold_all(batches, cfg)

    got = out[out["kind"] == running.ALERT]
    got_alerts = sorted(
        (r.building_id, int(r.window_start.timestamp()), r.type, r.event_time, r.value,
         r.threshold) for r in got.itertuples())
    assert len(got_alerts) == len(want_alerts)
    for g, w in zip(got_alerts, sorted(want_alerts), strict=True):
        assert g[:4] == w[:4]
        assert g[4:] == pytest.approx(w[4:])
    assert got["alert_id"].tolist() == [alerts.alert_id(
        r.building_id, r.window_start.tz_localize("UTC"), r.type) for r in got.itertuples()]

    # Every reading is accounted for: folded (batch_readings) or reported late.
    kept = sum(len(w) for w in want_windows.values())
    assert out.loc[out["kind"] == running.WINDOW, "batch_readings"].sum() == kept
    assert out.loc[out["kind"] == running.LATE, "batch_readings"].sum() == sum(
        len(df) for df, _ in batches) - kept

    # The correlation sums of a window's rows add up to the sums over its readings.
    win = out[out["kind"] == running.WINDOW]
    for (b, ws), rows in win.groupby(["building_id", "window_start"]):
        w = pd.DataFrame([x._asdict() for x in want_windows[(b, int(ws.timestamp()))]])
        got_sums = np.sum(np.vstack(rows["corr"].to_numpy()), axis=0)
        want_sums = []
        for f in running.CORR_FACTORS:
            pts = w[w[f].notna()]
            x, y = pts[f].astype(float), pts["energy_kwh"]
            want_sums += [len(pts), x.sum(), y.sum(), (x * y).sum(), (x * x).sum(),
                          (y * y).sum()]
        assert got_sums == pytest.approx(want_sums)

    # The last live row of each window equals the aggregate of all its kept readings.
    live = out[out["kind"] == running.WINDOW].groupby(
        ["building_id", "window_start"]).tail(1)
    assert len(live) == len(want_windows)
    for r in live.itertuples():
        w = pd.DataFrame([x._asdict() for x in want_windows[
            (r.building_id, int(r.window_start.timestamp()))]])
        assert r.window_end - r.window_start == pd.Timedelta(seconds=LENGTH)
        assert r.readings == len(w)
        assert r.energy_kwh == pytest.approx(w["energy_kwh"].sum())
        assert r.avg_kwh == pytest.approx(w["energy_kwh"].mean())
        assert r.peak_kwh == pytest.approx(w["energy_kwh"].max())
        assert r.avg_temperature == pytest.approx(w["temperature"].mean())
        for col, src in (("avg_humidity", "humidity"), ("avg_occupancy", "occupancy")):
            want = w[src].mean()
            assert (np.isnan(getattr(r, col)) and np.isnan(want)) or getattr(
                r, col) == pytest.approx(want)


def test_a_window_alerts_once_per_type_across_batches():
    cfg = _cfg()
    one = [{"building_id": "b1", "ws": int(T0.timestamp()), "timestamp": T0 + pd.Timedelta(
        seconds=i), "energy_kwh": 10.0, "temperature": 20.0, "humidity": None,
        "occupancy": None, "hour": 8.0, "partition": 0, "offset": i} for i in range(5)]
    batches = [(pd.DataFrame([r]), 0) for r in one]
    _, out = _fold_all(batches, cfg)
    got = out[out["kind"] == running.ALERT]
    assert got[["type", "value"]].values.tolist() == [[alerts.HIGH, 30.0], [alerts.PEAK, 30.0]]
    assert (got["event_time"] == T0 + pd.Timedelta(seconds=2)).all()


def test_closed_windows_leave_the_state_and_are_checked_against_the_baseline():
    cfg = _cfg()
    ws = int(T0.timestamp())
    how = alerts.hour_of_week(T0.tz_localize("UTC"))
    baseline = {("b1", how): (10.0, 1.0, 5), ("b2", how): (10.0, 1.0, 5)}
    rows = [{"building_id": b, "ws": ws, "timestamp": T0 + pd.Timedelta(seconds=10),
             "energy_kwh": e, "temperature": 20.0, "humidity": 50.0, "occupancy": 3.0,
             "hour": 8.0, "partition": 0, "offset": i} for i, (b, e) in enumerate([("b1", 19.0),
                                                                       ("b2", 11.0)])]
    end_ms = (ws + LENGTH) * 1000
    state, out = _fold_all([(pd.DataFrame(rows), 0),
                            (pd.DataFrame(columns=list(rows[0])), end_ms - 1)], cfg, baseline)
    assert len(state) == 2 and not (out["type"] == alerts.ABNORMAL).any()
    state, out = _fold_all([(pd.DataFrame(rows), 0),
                            (pd.DataFrame(columns=list(rows[0])), end_ms)], cfg, baseline)
    assert state.empty
    abn = out[out["type"] == alerts.ABNORMAL]
    assert abn[["building_id", "value", "threshold"]].values.tolist() == [["b1", 19.0, 13.0]]
    assert (abn["event_time"] == T0 + pd.Timedelta(seconds=LENGTH)).all()


def test_without_a_baseline_closing_raises_nothing():
    cfg = _cfg()
    rows = [{"building_id": "b1", "ws": int(T0.timestamp()), "timestamp": T0,
             "energy_kwh": 1.0, "temperature": 20.0, "humidity": 50.0, "occupancy": 3.0,
             "hour": 8.0, "partition": 0, "offset": 0}]
    far = int((T0 + pd.Timedelta(hours=1)).timestamp() * 1000)
    state, out = _fold_all([(pd.DataFrame(rows), 0), (pd.DataFrame(columns=list(rows[0])),
                                                      far)], cfg)
    assert state.empty and (out["kind"] == running.WINDOW).all()


def test_late_readings_are_dropped_like_the_final_windows_drop_them():
    cfg = _cfg()
    wm = int((T0 + pd.Timedelta(minutes=1)).timestamp() * 1000)
    rows = [{"building_id": "b1", "ws": int(T0.timestamp()), "timestamp": T0 + pd.Timedelta(
        seconds=s), "energy_kwh": 30.0, "temperature": 20.0, "humidity": 50.0,
        "occupancy": 3.0, "hour": 8.0, "partition": 0, "offset": s} for s in (59, 60)]
    state, out = _fold_all([(pd.DataFrame(rows), wm)], cfg)
    assert state["n"].tolist() == [1]
    assert out[out["kind"] == running.ALERT]["event_time"].tolist() == [
        T0 + pd.Timedelta(seconds=60)] * 2
