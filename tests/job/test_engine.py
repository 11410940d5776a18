"""The window engine's driver side (`engine.Engine`) against a reading-by-reading reference:
random out-of-order and late batches, the state round-tripped through its saved form between
batches, partials computed here as the JVM computes them (sums per building and window)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from jobkit import engine_step, flat_models
from jobkit import partials_of as _partials
from jobkit import us as _us

from wattstream.config import Config
from wattstream.job import alerts, engine

T0 = pd.Timestamp("2026-01-05 09:00")
LENGTH, DELAY = 300, 120
CFG = Config().replace(windows={"length_seconds": LENGTH, "watermark_seconds": DELAY},
                       alerts={"high_consumption_kwh": 40.0, "peak_demand_kwh": 55.0,
                               "buildings": {"b-2": {"high_consumption_kwh": 25.0}}})


def _batches(seed: int) -> list[pd.DataFrame]:
    rng = random.Random(seed)
    out, offset = [], 0
    for b in range(6):
        rows = []
        for _ in range(rng.randrange(20, 80)):
            # Mostly forward in time, some far behind (late), some out of order.
            ts = T0 + pd.Timedelta(seconds=b * 240 + rng.randrange(-400, 300))
            hum = None if rng.random() < 0.2 else rng.uniform(20, 80)
            rows.append({"building_id": f"b-{rng.randrange(3)}", "timestamp": ts,
                         "energy_kwh": rng.uniform(0.5, 8.0), "temperature": rng.uniform(0, 30),
                         "humidity": hum, "occupancy": float(rng.randrange(0, 40)),
                         "partition": rng.randrange(2), "offset": offset})
            offset += 1
        df = pd.DataFrame(rows)
        df["ws"] = (df["timestamp"] - pd.Timestamp(0)) // pd.Timedelta(seconds=LENGTH) * LENGTH
        out.append(df)
    return out


def _run(batches: list[pd.DataFrame], models=None, cfg=CFG):
    e = engine.Engine(cfg, models)
    alerts_out, closed_out, late = [], [], 0
    now = pd.Timestamp("2026-01-05 12:00")
    for batch in batches:
        blob = e.encode()
        e = engine.Engine(cfg, models)
        e.decode(blob)  # every batch starts from the saved state, as after a restart
        step, n_late = engine_step(e, batch, now)
        late += n_late
        alerts_out.append(step.alerts)
        closed_out.append(step.closed)
    return _concat(alerts_out), _concat(closed_out), late, e


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    full = [f for f in frames if len(f)]
    return pd.concat(full, ignore_index=True) if full else frames[0]


def _reference(batches: list[pd.DataFrame]):
    """Reading by reading: the watermark from earlier batches, the crossing reading in
    event-time (partition, offset) order, windows closed once the watermark passes them."""
    running: dict = {}
    fired: set = set()
    closed: dict = {}
    found, late, newest = [], 0, None
    for batch in batches:
        wm = None if newest is None else newest - pd.Timedelta(seconds=DELAY)
        for r in batch.sort_values(["timestamp", "partition", "offset"]).to_dict("records"):
            if wm is not None and r["timestamp"] < wm:
                late += 1
                continue
            key = (r["building_id"], r["ws"])
            w = running.setdefault(key, [])
            w.append(r)
            total = sum(x["energy_kwh"] for x in w)
            high, peak = CFG.alerts.thresholds(r["building_id"])
            for kind, thr in ((alerts.HIGH, high), (alerts.PEAK, peak)):
                if total > thr and (key, kind) not in fired:
                    fired.add((key, kind))
                    found.append({"building_id": key[0], "ws": key[1], "type": kind,
                                  "event_time": r["timestamp"], "value": total})
        if len(batch):
            top = batch["timestamp"].max()
            newest = top if newest is None else max(newest, top)
        wm_after = newest - pd.Timedelta(seconds=DELAY)
        for key in [k for k in running if pd.Timestamp(k[1] + LENGTH, unit="s") <= wm_after]:
            closed[key] = running.pop(key)
    return pd.DataFrame(found), closed, late


@pytest.mark.parametrize("seed", range(10))
def test_engine_equals_reading_by_reading_reference(seed):
    batches = _batches(seed)
    got_alerts, got_closed, got_late, _ = _run(batches)
    want_alerts, want_closed, want_late = _reference(batches)

    assert got_late == want_late
    key = ["building_id", "type", "window_start"]
    got = got_alerts.sort_values(key).reset_index(drop=True)
    want = want_alerts.assign(window_start=pd.to_datetime(want_alerts["ws"], unit="s")) \
        .sort_values(key).reset_index(drop=True)
    assert len(want) >= 3
    assert got[key + ["event_time"]].to_dict("records") == want[key + ["event_time"]].to_dict(
        "records")
    np.testing.assert_allclose(got["value"], want["value"], rtol=1e-12)
    assert got["alert_id"].is_unique

    assert len(got_closed) == len(want_closed) > 0
    for row in got_closed.to_dict("records"):
        rs = pd.DataFrame(want_closed[(row["building_id"],
                                       int(row["window_start"].timestamp()))])
        assert row["readings"] == len(rs)
        assert row["energy_kwh"] == pytest.approx(rs["energy_kwh"].sum(), rel=1e-12)
        assert row["peak_kwh"] == rs["energy_kwh"].max()
        assert row["demand_kw"] == pytest.approx(rs["energy_kwh"].sum() * 3600 / LENGTH)
        assert row["avg_temperature"] == pytest.approx(rs["temperature"].mean())
        hum = rs["humidity"].dropna()
        assert (np.isnan(row["avg_humidity"]) if hum.empty
                else row["avg_humidity"] == pytest.approx(hum.mean()))
        assert row["hour_of_week"] == row["window_start"].dayofweek * 24 + \
            row["window_start"].hour
        assert row["local_time_mismatches"] == 0  # the readings carry their UTC fields


def test_closed_windows_are_in_each_building_s_local_hour_of_the_week():
    """b-0 in New York (EST in January), b-1 in Tokyo; their readings carry UTC fields, which
    the windows count as disagreeing with the zone."""
    cfg = CFG.replace(calendar={"timezones": {"b-0": "America/New_York",
                                              "b-1": "Asia/Tokyo"}})
    _, closed, _, _ = _run(_batches(1), cfg=cfg)
    assert set(closed["building_id"]) == {"b-0", "b-1", "b-2"}
    for row in closed.to_dict("records"):
        utc = row["window_start"].dayofweek * 24 + row["window_start"].hour
        shift = {"b-0": -5, "b-1": 9, "b-2": 0}[row["building_id"]]
        assert row["hour_of_week"] == (utc + shift) % 168
        assert row["local_time_mismatches"] == (0 if shift == 0 else row["readings"])


def test_a_closed_window_is_scored_against_its_baseline_once():
    rows = pd.DataFrame({"building_id": ["b-1"] * 10, "energy_kwh": [2.9, 3.1] * 5,
                         "timestamp": [T0 + pd.Timedelta(seconds=25 * i) for i in range(10)],
                         "temperature": 20.0, "humidity": 50.0, "occupancy": 5.0,
                         "partition": 0, "offset": range(10)})
    rows["ws"] = int(T0.timestamp()) // LENGTH * LENGTH
    closer = rows.iloc[[0]].assign(building_id="b-9", timestamp=T0 + pd.Timedelta(hours=1),
                                   energy_kwh=0.1, offset=99)
    closer["ws"] = int((T0 + pd.Timedelta(hours=1)).timestamp()) // LENGTH * LENGTH
    # T0 is a Monday 09:00: inside the tariff's morning period.
    cfg = CFG.replace(alerts={"abnormal_consecutive": 1},
                      tariff={"energy_price_per_kwh": 0.1, "carbon_kg_per_kwh": 0.5,
                              "periods": {"morning": {"price_per_kwh": 0.25, "hours": "8-10"}}})
    got, closed, _, e = _run([rows, closer], flat_models({"b-1": 11.0}), cfg)
    abnormal = got[got["type"] == alerts.ABNORMAL]
    assert abnormal[["building_id", "value", "threshold"]].values.tolist() == [
        ["b-1", 30.0, 14.0]]
    assert abnormal["event_time"].iloc[0] == T0 + pd.Timedelta(seconds=LENGTH)
    assert list(closed["building_id"]) == ["b-1"]
    # The closed window carries its score.
    assert closed[["expected_kwh", "residual_kwh", "std_residual"]].values.tolist() == [
        [11.0, 19.0, 19.0]]
    # … and its price and emissions under the tariff of its start.
    assert closed[["energy_cost", "co2_kg"]].values[0].tolist() == pytest.approx([7.5, 15.0])
    assert list(e.windows["building_id"]) == ["b-9"]  # the closer's window stays open


def test_state_round_trips_with_its_watermark():
    e = engine.Engine(CFG)
    assert e.watermark_us() is None
    batch = _batches(1)[0]
    parts = _partials(batch)
    e.apply(parts, int(_us(batch["timestamp"]).max()), batch.iloc[:0][
        list(engine.READING_COLUMNS)], T0)
    again = engine.Engine(CFG)
    again.decode(e.encode())
    assert again.watermark_us() == e.watermark_us()
    pd.testing.assert_frame_equal(again.windows.reset_index(drop=True),
                                  e.windows.reset_index(drop=True), check_dtype=False)
    again.decode(None)
    assert again.windows.empty and again.watermark_us() is None


def test_windows_without_temperature_have_no_average_temperature():
    rows = pd.DataFrame({"building_id": ["b-1"] * 4 + ["b-2"] * 2, "energy_kwh": 1.0,
                         "timestamp": [T0 + pd.Timedelta(seconds=30 * i) for i in range(6)],
                         "temperature": [None, None, None, None, 10.0, None],
                         "humidity": None, "occupancy": None, "partition": 0,
                         "offset": range(6)})
    rows["temperature"] = rows["temperature"].astype("float64")
    rows["ws"] = int(T0.timestamp()) // LENGTH * LENGTH
    closer = rows.iloc[[0]].assign(building_id="b-9", timestamp=T0 + pd.Timedelta(hours=1),
                                   offset=99)
    closer["ws"] = int((T0 + pd.Timedelta(hours=1)).timestamp()) // LENGTH * LENGTH
    _, closed, _, _ = _run([rows, closer])
    got = closed.set_index("building_id")
    assert np.isnan(got.loc["b-1", "avg_temperature"]) and got.loc["b-1", "readings"] == 4
    assert got.loc["b-2", "avg_temperature"] == 10.0


def _rows(building: str, times: list[pd.Timestamp], kwh: float = 1.0) -> pd.DataFrame:
    df = pd.DataFrame({"building_id": building, "timestamp": pd.DatetimeIndex(times),
                       "energy_kwh": kwh,
                       "temperature": 10.0, "humidity": 50.0, "occupancy": 1.0,
                       "partition": 0, "offset": range(len(times))})
    df["ws"] = (df["timestamp"] - pd.Timestamp(0)) // pd.Timedelta(seconds=LENGTH) * LENGTH
    return df


def test_an_idle_close_closes_every_open_window_and_later_readings_for_them_are_late():
    now = pd.Timestamp("2026-01-05 12:00")
    e = engine.Engine(CFG)
    # The last readings of a replay: windows 09:00 and 09:05 (newest 09:06) stay open, as the
    # watermark (09:04) has passed neither's end.
    times = [T0 + pd.Timedelta(minutes=m) for m in (1, 4, 6)]
    step, _ = engine_step(e, _rows("b-1", times), now)
    assert step.closed.empty and len(e.windows) == 2
    newest = int(_us(pd.Series([times[-1]]))[0])

    # The batch holding the idle-close record (nothing else): both close, final.
    step, _ = engine_step(e, _rows("b-1", []), now, idle_until_us=newest)
    assert list(step.closed["window_start"]) == [T0, T0 + pd.Timedelta(minutes=5)]
    assert list(step.closed["readings"]) == [2, 1] and e.windows.empty
    # The watermark is past the end of the newest reading's window (09:10), no further.
    assert e.watermark_us() == int(_us(pd.Series([T0 + pd.Timedelta(minutes=10)]))[0])

    # A reading for a closed window is late; one of the next window is on time.
    step, late = engine_step(e, _rows("b-1", [T0 + pd.Timedelta(minutes=9),
                                              T0 + pd.Timedelta(minutes=10)]), now)
    assert late == 1 and list(e.windows["ws"]) == [int(
        (T0 + pd.Timedelta(minutes=10) - pd.Timestamp(0)).total_seconds())]


def test_an_idle_close_never_moves_the_watermark_back():
    e = engine.Engine(CFG)
    late_time = T0 + pd.Timedelta(hours=1)
    engine_step(e, _rows("b-1", [late_time]), pd.Timestamp("2026-01-05 12:00"))
    before = e.watermark_us()
    e.idle_close(int(_us(pd.Series([T0]))[0]))  # a record older than what was since read
    assert e.watermark_us() == before


def test_a_window_on_a_holiday_is_of_the_day_off_type():
    """New Year's Day in the building's zone: hour of the week 168 + the local hour; the day
    after is an ordinary Friday."""
    cfg = CFG.replace(calendar={"timezone": "Europe/Berlin", "default_holidays": "DE"})
    rows = _rows("b-0", [pd.Timestamp("2026-01-01 08:01"), pd.Timestamp("2026-01-02 08:01")])
    closer = _rows("b-9", [pd.Timestamp("2026-01-02 09:00")])
    _, closed, _, _ = _run([rows, closer], cfg=cfg)
    got = closed[closed["building_id"] == "b-0"]["hour_of_week"].tolist()
    assert got == [168 + 9, 4 * 24 + 9]  # 09:00 CET
