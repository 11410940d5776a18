"""Running windows per building: the job's one stateful Python operator. Every consumed message
passes through it once, so a single parse feeds the alerts, the live view, the quarantine and
the correlation sums.

Buildings are hashed into `job.state_buckets` groups. A group's state is one small table of
its open windows (running count, energy, peak, sums of the factors, which alerts fired), and
a micro-batch folds all of a group's readings in one vectorised pandas pass. One state per
building and window would call Python once per window per batch instead: about 3 ms a call,
half a minute a batch at 10 000 buildings.

Per micro-batch and group (`fold`):
  - readings behind the watermark are dropped, as the final windows drop them;
  - readings are folded into their window in event-time order (then Kafka partition and
    offset); the reading whose running energy first passes a threshold raises the alert, at
    most once per building, window and type, with its own event time;
  - every window a reading touched is emitted as a `window` row (the live view);
  - windows the watermark has passed are closed: compared with their hour-of-week baseline
    (ABNORMAL_USAGE) and dropped from the state. A group without readings is woken for this
    by an event-time timeout at its earliest open window's end.

Malformed messages (`parse.decode` set their `error`) bypass the state: they come out as
`quarantine` rows with their payload and reason.

    rows = running_windows(watermarked_parsed, cfg, baseline)   # streaming DataFrame
    alerts(rows), quarantined(rows)                             # Spark views of the row kinds
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.streaming.state import GroupStateTimeout

from ..config import Config
from .alerts import ABNORMAL, HIGH, PEAK, Baseline, abnormal, alert_ids, hour_of_week
from .correlation import FACTORS as CORR_FACTORS
from .correlation import SUMS as CORR_SUMS

ALERT = "alert"
WINDOW = "window"
QUARANTINE = "quarantine"
LATE = "late"  # a count of readings the fold itself found behind the watermark
ALERT_COLUMNS = ("alert_id", "building_id", "type", "value", "threshold", "event_time",
                 "window_start", "window_end", "raised_at")
WINDOW_COLUMNS = ("building_id", "window_start", "window_end", "readings", "energy_kwh",
                  "avg_kwh", "peak_kwh", "avg_temperature", "avg_humidity", "avg_occupancy")
OUTPUT_SCHEMA = (
    "kind string, building_id string, window_start timestamp, window_end timestamp, "
    "alert_id string, type string, value double, threshold double, event_time timestamp, "
    "raised_at timestamp, readings long, energy_kwh double, avg_kwh double, peak_kwh double, "
    "avg_temperature double, avg_humidity double, avg_occupancy double, "
    "batch_readings long, corr array<double>, "
    "payload binary, topic string, partition int, offset long, reason string, field string, "
    "message string"
)
QUARANTINE_COLUMNS = ("payload", "topic", "partition", "offset", "reason", "field", "message")
# `corr`: the correlation sums of a window's readings in this batch, per factor n, Σx, Σy, Σxy,
# Σx², Σy² (the order of `correlation.PearsonTracker.COLUMNS`).
_TYPES = dict(c.split() for c in OUTPUT_SCHEMA.split(", "))
_OUT = list(_TYPES)
STATE_SCHEMA = "windows binary"
# The rows of one kind leave the other kinds' columns empty; pyspark's serializer concatenates
# such frames and pandas warns about it on every batch.
warnings.filterwarnings("ignore", message="The behavior of DataFrame concatenation with empty",
                        category=FutureWarning)  # the group's open windows as an Arrow IPC stream

# Open windows of a group: one row per (building, window start in epoch seconds).
KEY = ["building_id", "ws"]
_SUMS = {"n": "int64", "e_sum": "float64", "e_max": "float64", "t_sum": "float64",
         "t_n": "int64", "h_sum": "float64", "h_n": "int64", "o_sum": "float64", "o_n": "int64"}
_FLAGS = ("high", "peak")
STATE_COLUMNS = (*KEY, *_SUMS, *_FLAGS)


@dataclass(frozen=True)
class Rules:
    """What `fold` needs from the config, picklable for the Python workers."""

    length_s: int
    high_kwh: float
    peak_kwh: float
    overrides: dict[str, tuple[float, float]]
    sigma: float
    baseline: Baseline | None

    @classmethod
    def of(cls, cfg: Config, baseline: Baseline | None) -> Rules:
        a = cfg.alerts
        return cls(cfg.windows.length_seconds, a.high_consumption_kwh, a.peak_demand_kwh,
                   {b: a.thresholds(b) for b in a.buildings}, a.abnormal_sigma, baseline)

    def thresholds(self, buildings: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        high = np.full(len(buildings), self.high_kwh)
        peak = np.full(len(buildings), self.peak_kwh)
        if self.overrides:
            own = buildings.map(self.overrides)
            has = own.notna().to_numpy()
            if has.any():
                high[has] = [t[0] for t in own[has]]
                peak[has] = [t[1] for t in own[has]]
        return high, peak


def empty_state() -> pd.DataFrame:
    return pd.DataFrame({"building_id": pd.Series(dtype=object), "ws": pd.Series(dtype="int64"),
                         **{k: pd.Series(dtype=t) for k, t in _SUMS.items()},
                         **{k: pd.Series(dtype=bool) for k in _FLAGS}})


def encode_state(state: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(state[list(STATE_COLUMNS)], preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def decode_state(blob: bytes) -> pd.DataFrame:
    return pa.ipc.open_stream(blob).read_all().to_pandas()


def _ms(ts: pd.Series) -> np.ndarray:
    return ((ts - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1)).to_numpy(dtype="int64")


def _stamp(seconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(seconds, dtype="int64"), unit="s"))


def _ratio(s: pd.Series, n: pd.Series) -> pd.Series:
    return (s / n).where(n > 0)


def fold(state: pd.DataFrame, readings: pd.DataFrame, watermark_ms: int, rules: Rules,
         now: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fold one micro-batch of a group into its open windows: (new state, output rows).

    `readings` has building_id, ws (window start, epoch s), timestamp (naive UTC), energy_kwh,
    temperature, humidity, occupancy, hour, partition and offset."""
    out = []
    r = readings[_ms(readings["timestamp"]) >= watermark_ms] if len(readings) else readings
    if len(r) < len(readings):
        out.append(pd.DataFrame({"kind": [LATE], "batch_readings": [len(readings) - len(r)]}))
    if len(r):
        r = r.sort_values([*KEY, "timestamp", "partition", "offset"], kind="stable",
                          ignore_index=True)
        y = r["energy_kwh"].to_numpy(dtype="float64")
        corr = {}
        for f in CORR_FACTORS:
            x = r[f].to_numpy(dtype="float64")
            present = ~np.isnan(x)
            xs, ys = np.where(present, x, 0.0), np.where(present, y, 0.0)
            sums = (present.astype("float64"), xs, ys, xs * ys, xs * xs, ys * ys)
            corr.update({f"_c_{f}_{k}": v for k, v in zip(CORR_SUMS, sums, strict=True)})
        grouped = r.assign(t_n=r["temperature"].notna(), h_n=r["humidity"].notna(),
                           o_n=r["occupancy"].notna(), **corr).groupby(KEY, sort=False)
        batch = (grouped.agg(n=("energy_kwh", "size"), e_sum=("energy_kwh", "sum"),
                             e_max=("energy_kwh", "max"), t_sum=("temperature", "sum"),
                             t_n=("t_n", "sum"), h_sum=("humidity", "sum"),
                             h_n=("h_n", "sum"), o_sum=("occupancy", "sum"),
                             o_n=("o_n", "sum"))
                 .reset_index())
        corr_sums = grouped[list(corr)].sum().to_numpy()
        before = batch[KEY].merge(state, on=KEY, how="left")
        merged = batch.copy()
        for k, t in _SUMS.items():
            prior = before[k].fillna(0).to_numpy()
            merged[k] = (np.maximum(batch[k].to_numpy(), before[k].fillna(-np.inf).to_numpy())
                         if k == "e_max" else batch[k].to_numpy() + prior).astype(t)
        for k in _FLAGS:
            merged[k] = before[k].eq(True).to_numpy()

        # Per reading, its window's row in `batch`/`merged` (both in group order).
        group = grouped.ngroup().to_numpy()
        # Running energy per reading = the window's energy before this batch + cumulative sum.
        running = before["e_sum"].fillna(0.0).to_numpy()[group] + grouped[
            "energy_kwh"].cumsum().to_numpy()
        high_thr, peak_thr = rules.thresholds(r["building_id"])
        for kind, flag, thr in ((HIGH, "high", high_thr), (PEAK, "peak", peak_thr)):
            fired = merged[flag].to_numpy()
            crossing = (running > thr) & ~fired[group]
            if not crossing.any():
                continue
            first = r[crossing].drop_duplicates(KEY)  # sorted: the crossing reading
            idx = first.index.to_numpy()
            out.append(pd.DataFrame({
                "kind": ALERT, "building_id": first["building_id"].to_numpy(),
                "window_start": _stamp(first["ws"]), "window_end": _stamp(
                    first["ws"] + rules.length_s), "type": kind, "value": running[idx],
                "threshold": thr[idx], "event_time": first["timestamp"].to_numpy(),
                "raised_at": now}))
            fired = fired.copy()
            fired[group[idx]] = True
            merged[flag] = fired

        out.append(pd.DataFrame({
            "kind": WINDOW, "building_id": merged["building_id"].to_numpy(),
            "window_start": _stamp(merged["ws"]), "window_end": _stamp(
                merged["ws"] + rules.length_s),
            "readings": merged["n"].to_numpy(), "energy_kwh": merged["e_sum"].to_numpy(),
            "avg_kwh": _ratio(merged["e_sum"], merged["n"]).to_numpy(),
            "peak_kwh": merged["e_max"].to_numpy(),
            "avg_temperature": _ratio(merged["t_sum"], merged["t_n"]).to_numpy(),
            "avg_humidity": _ratio(merged["h_sum"], merged["h_n"]).to_numpy(),
            "avg_occupancy": _ratio(merged["o_sum"], merged["o_n"]).to_numpy(),
            "batch_readings": batch["n"].to_numpy(), "corr": list(corr_sums)}))
        untouched = state.merge(batch[KEY], on=KEY, how="left", indicator=True)
        state = pd.concat([untouched[untouched["_merge"] == "left_only"][list(STATE_COLUMNS)],
                           merged[list(STATE_COLUMNS)]], ignore_index=True)

    closed = (state["ws"].to_numpy() + rules.length_s) * 1000 <= watermark_ms
    if closed.any():
        if rules.baseline is not None:
            found = _abnormal(state[closed], rules, now)
            if len(found):
                out.append(found)
        state = state[~closed].reset_index(drop=True)
    rows = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=_OUT)
    return state, rows


def _abnormal(closed: pd.DataFrame, rules: Rules, now: pd.Timestamp) -> pd.DataFrame:
    rows = []
    for b, ws, energy in zip(closed["building_id"], closed["ws"], closed["e_sum"], strict=True):
        start = pd.Timestamp(int(ws), unit="s", tz="UTC")
        thr = abnormal(float(energy), rules.baseline.get((b, hour_of_week(start))), rules.sigma)
        if thr is not None:
            rows.append((b, int(ws), float(energy), thr))
    if not rows:
        return pd.DataFrame(columns=_OUT)
    b, ws, energy, thr = (list(c) for c in zip(*rows, strict=True))
    ws = np.asarray(ws)
    end = _stamp(ws + rules.length_s)
    return pd.DataFrame({"kind": ALERT, "building_id": b, "window_start": _stamp(ws),
                         "window_end": end, "type": ABNORMAL, "value": energy,
                         "threshold": thr, "event_time": end, "raised_at": now})


def _finish(rows: pd.DataFrame) -> pd.DataFrame:
    """Output rows in the declared column order, alert ids filled in."""
    rows = rows.reindex(columns=_OUT)
    for name, kind in _TYPES.items():
        if kind == "timestamp":
            rows[name] = pd.to_datetime(rows[name])
        elif kind == "long":
            rows[name] = rows[name].astype("Int64")
        elif kind in ("string", "binary", "array<double>"):
            col = rows[name].astype(object)
            rows[name] = col.where(col.notna(), None)
        elif kind == "int":
            rows[name] = rows[name].astype("Int32")
    alerts = rows["kind"] == ALERT
    if alerts.any():
        rows.loc[alerts, "alert_id"] = alert_ids(
            rows.loc[alerts, "building_id"], rows.loc[alerts, "window_start"],
            rows.loc[alerts, "type"])
    return rows


def make_state_function(rules: Rules):
    """The per-group function for `applyInPandasWithState`."""

    def fn(key, frames: Iterator[pd.DataFrame], state) -> Iterator[pd.DataFrame]:
        if key[0] == QUARANTINE_KEY:
            bad = pd.concat(list(frames), ignore_index=True)
            if len(bad):
                yield _finish(bad[list(QUARANTINE_COLUMNS)].assign(kind=QUARANTINE))
            return
        wm = state.getCurrentWatermarkMs()
        now = pd.Timestamp.now(tz="UTC").tz_convert(None)
        current = decode_state(state.get[0]) if state.exists else empty_state()
        readings = (pd.DataFrame() if state.hasTimedOut
                    else pd.concat(list(frames), ignore_index=True))
        current, rows = fold(current, readings, wm, rules, now)
        if len(current):
            state.update((encode_state(current),))
            state.setTimeoutTimestamp(int((current["ws"].min() + rules.length_s) * 1000))
        elif state.exists:
            state.remove()
        if len(rows):
            yield _finish(rows)

    return fn


QUARANTINE_KEY = -1  # the group of malformed messages (state buckets are >= 0)


def bucket_keys(spark, buckets: int) -> list[int]:
    """The key of each bucket: the smallest ids that Spark's hash partitioning into `buckets`
    partitions sends to partitions 0, 1, 2, … in turn. With as many shuffle partitions as
    buckets, every task then folds one bucket (plain ids 0..n-1 collide: 0 and 1 share a
    partition of two). Depends on `buckets` only, so a checkpoint keeps its keys."""
    rows = (spark.range(0, 64 * buckets)
            .select("id", F.pmod(F.hash("id"), F.lit(buckets)).alias("p")).collect())
    keys: dict[int, int] = {}
    for r in rows:
        keys.setdefault(r["p"], r["id"])
    if len(keys) < buckets:  # not expected for any bucket count in range; stay correct anyway
        return list(range(buckets))
    return [keys[p] for p in range(buckets)]


def running_windows(parsed: DataFrame, cfg: Config, baseline: Baseline | None) -> DataFrame:
    """Watermarked `parse.decode` rows → alert, window, quarantine and late rows (`kind` says
    which; see `OUTPUT_SCHEMA`)."""
    length = cfg.windows.length_seconds
    ok = F.col("error").isNull()
    buckets = cfg.job.state_buckets
    keys = F.array(*[F.lit(k) for k in bucket_keys(parsed.sparkSession, buckets)])
    df = parsed.select(
        F.when(ok, F.element_at(keys, (F.pmod(F.xxhash64("building_id"), F.lit(buckets))
                                       + 1).cast("int")))
        .otherwise(F.lit(QUARANTINE_KEY)).cast("long").alias("bucket"),
        "building_id",
        (F.floor(F.unix_timestamp("timestamp") / length) * length).cast("long").alias("ws"),
        "timestamp", "energy_kwh", "temperature", "humidity",
        F.col("occupancy").cast("double").alias("occupancy"),
        F.col("hour").cast("double").alias("hour"), "partition", "offset",
        # The payload travels only with the messages that need it.
        F.when(~ok, F.col("payload")).alias("payload"), "topic",
        F.col("error.reason").alias("reason"), F.col("error.field").alias("field"),
        F.col("error.message").alias("message"),
    )
    return df.groupBy("bucket").applyInPandasWithState(
        make_state_function(Rules.of(cfg, baseline)), OUTPUT_SCHEMA, STATE_SCHEMA, "append",
        GroupStateTimeout.EventTimeTimeout,
    )


def alerts(rows: DataFrame) -> DataFrame:
    return rows.where(F.col("kind") == ALERT).select(*ALERT_COLUMNS)


def quarantined(rows: DataFrame) -> DataFrame:
    """The rows `parse.dead_letter` takes."""
    return rows.where(F.col("kind") == QUARANTINE).select(*QUARANTINE_COLUMNS)
