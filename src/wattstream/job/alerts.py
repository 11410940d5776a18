"""Alerts raised by the reading that crosses a threshold, not when the window closes.

Per building and window a small state holds the running energy and which alerts already fired;
readings of a micro-batch are folded in event-time order, so the alert carries the crossing
reading's event time and the running energy just after it. When the watermark passes the
window's end the state times out: the closed window is then compared with its hour-of-week
baseline (ABNORMAL_USAGE) and the state is dropped.

    alerts = running_alerts(watermarked_readings, cfg, baseline)   # streaming DataFrame
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.streaming.state import GroupStateTimeout

from ..config import Config

HIGH = "HIGH_CONSUMPTION"
PEAK = "PEAK_DEMAND"
ABNORMAL = "ABNORMAL_USAGE"
TYPES = (HIGH, PEAK, ABNORMAL)

OUTPUT_SCHEMA = (
    "alert_id string, building_id string, type string, value double, threshold double, "
    "event_time timestamp, window_start timestamp, window_end timestamp, raised_at timestamp"
)
STATE_SCHEMA = "energy double, readings long, high_fired boolean, peak_fired boolean"

# (building, hour_of_week) -> (mean kWh, std kWh, windows seen)
Baseline = Mapping[tuple[str, int], tuple[float, float, int]]


def alert_id(building: str, window_start: datetime, kind: str) -> str:
    """Deterministic id: a replayed alert has the same id, so consumers can drop it."""
    ws = window_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return hashlib.sha256(f"{building}|{ws}|{kind}".encode()).hexdigest()[:32]


def hour_of_week(ts: datetime) -> int:
    return ts.weekday() * 24 + ts.hour


def abnormal(energy: float, stats: tuple[float, float, int] | None, sigma: float,
             min_windows: int = 3) -> float | None:
    """The threshold a closed window broke (mean ± sigma·std), or None."""
    if stats is None:
        return None
    mean, std, n = stats
    if n < min_windows or not std or std <= 0:
        return None
    if energy > mean + sigma * std:
        return mean + sigma * std
    if energy < mean - sigma * std:
        return mean - sigma * std
    return None


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _row(building, kind, value, threshold, event_time, ws, we, now) -> dict:
    return {
        "alert_id": alert_id(building, ws, kind), "building_id": building, "type": kind,
        "value": float(value), "threshold": float(threshold),
        "event_time": pd.Timestamp(event_time).tz_convert(None) if pd.Timestamp(
            event_time).tzinfo else pd.Timestamp(event_time),
        "window_start": pd.Timestamp(ws).tz_convert(None),
        "window_end": pd.Timestamp(we).tz_convert(None), "raised_at": now,
    }


def make_state_function(cfg: Config, baseline: Baseline | None):
    """The per-(building, window) function for `applyInPandasWithState`."""
    alerts_cfg = cfg.alerts
    length_ms = cfg.windows.length_seconds * 1000
    sigma = alerts_cfg.abnormal_sigma
    columns = [c.split()[0] for c in OUTPUT_SCHEMA.split(", ")]

    def close(building, energy, ws, we, now) -> list[dict]:
        if baseline is None:
            return []
        thr = abnormal(energy, baseline.get((building, hour_of_week(ws))), sigma)
        return [] if thr is None else [_row(building, ABNORMAL, energy, thr, we, ws, we, now)]

    def fn(key, frames: Iterator[pd.DataFrame], state) -> Iterator[pd.DataFrame]:
        building, ws_s = key[0], int(key[1])
        ws = _utc(ws_s * 1000)
        end_ms = ws_s * 1000 + length_ms
        we = _utc(end_ms)
        now = pd.Timestamp.now(tz="UTC").tz_convert(None)
        wm = state.getCurrentWatermarkMs()
        out = []
        if state.hasTimedOut:
            out += close(building, state.get[0], ws, we, now)
            state.remove()
        else:
            pdf = pd.concat(list(frames), ignore_index=True)
            # Readings behind the watermark are late: the final windows drop them, so do we.
            ts_ms = (pdf["timestamp"] - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1)
            pdf = pdf[ts_ms >= wm]
            if len(pdf):
                # Arrival order inside a batch is not defined; event time (then offset) is.
                pdf = pdf.sort_values(["timestamp", "partition", "offset"], kind="stable")
                energy, count, high_fired, peak_fired = state.get if state.exists else (
                    0.0, 0, False, False)
                running = energy + pdf["energy_kwh"].cumsum().to_numpy()
                high_thr, peak_thr = alerts_cfg.thresholds(building)
                fired = {HIGH: high_fired, PEAK: peak_fired}
                for kind, thr in ((HIGH, high_thr), (PEAK, peak_thr)):
                    if fired[kind] or running[-1] <= thr:
                        continue
                    i = int((running > thr).argmax())
                    ts = pdf["timestamp"].iloc[i]
                    out.append(_row(building, kind, running[i], thr, ts, ws, we, now))
                    fired[kind] = True
                state.update((float(running[-1]), int(count + len(pdf)), fired[HIGH],
                              fired[PEAK]))
            if state.exists:
                if end_ms <= wm:
                    out += close(building, state.get[0], ws, we, now)
                    state.remove()
                else:
                    state.setTimeoutTimestamp(end_ms)
        if out:
            yield pd.DataFrame(out, columns=columns)

    return fn


def running_alerts(readings: DataFrame, cfg: Config, baseline: Baseline | None,
                   offsets: bool = True) -> DataFrame:
    """Watermarked readings (with `partition`/`offset` when `offsets`) → alert rows."""
    length = cfg.windows.length_seconds
    df = readings
    if not offsets:
        df = df.withColumn("partition", F.lit(0)).withColumn("offset", F.lit(0).cast("long"))
    df = df.select(
        "building_id",
        (F.floor(F.unix_timestamp("timestamp") / length) * length).cast("long")
        .alias("window_start_s"),
        "timestamp", "energy_kwh", "partition", "offset",
    )
    return df.groupBy("building_id", "window_start_s").applyInPandasWithState(
        make_state_function(cfg, baseline), OUTPUT_SCHEMA, STATE_SCHEMA, "append",
        GroupStateTimeout.EventTimeTimeout,
    )
