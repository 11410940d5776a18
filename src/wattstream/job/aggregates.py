"""The window aggregates, defined once: each column of a (building, window) row says which
partial sums the JVM computes per micro-batch, how the driver merges them into the running
window, and how the column follows from them. The live view, the threshold alerts, the
abnormal-usage check and the final windows all read these columns.

    partial_columns()            # Spark aggregate expressions over a batch's readings
    merge(prior, batch)          # running partials + a batch's partials (pandas)
    finish(partials, length_s)   # partials → WINDOW_COLUMNS (pandas)

A new window column is one more entry in `AGGREGATES` (and, if it needs a new partial, one
more `Partial`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F


@dataclass(frozen=True)
class Partial:
    """A per-window sum, count or maximum over readings, mergeable across micro-batches."""

    name: str
    spark: Callable[[], Column]  # the aggregate over one batch's readings of a window
    merge: str  # "sum", "min" or "max"
    dtype: str


@dataclass(frozen=True)
class Aggregate:
    """A window column and how it follows from the partials (`Frame` → values)."""

    column: str
    value: Callable[[pd.DataFrame, int], pd.Series | np.ndarray]


def _count(name: str, src: str | None = None) -> Partial:
    return Partial(name, (lambda: F.count(F.lit(1))) if src is None else (lambda: F.count(src)),
                   "sum", "int64")


def _sum(name: str, src: str) -> Partial:
    return Partial(name, lambda: F.sum(F.col(src).cast("double")), "sum", "float64")


def _max(name: str, src: str) -> Partial:
    return Partial(name, lambda: F.max(F.col(src).cast("double")), "max", "float64")


def _min(name: str, src: str) -> Partial:
    return Partial(name, lambda: F.min(F.col(src).cast("double")), "min", "float64")


PARTIALS: tuple[Partial, ...] = (
    _count("n"),
    _sum("energy_sum", "energy_kwh"), _max("energy_max", "energy_kwh"),
    # A stuck meter repeats one value: its windows have min == max (`detect`).
    _min("energy_min", "energy_kwh"),
    # First and last reading (µs since the epoch; exact in a double): silences between
    # windows (`detect`) and the watermark.
    _min("first_us", "ts_us"), _max("last_us", "ts_us"),
    # Null-aware means: absent humidity or occupancy does not count as zero.
    _sum("temperature_sum", "temperature"), _count("temperature_count", "temperature"),
    _sum("humidity_sum", "humidity"), _count("humidity_count", "humidity"),
    _sum("occupancy_sum", "occupancy"), _count("occupancy_count", "occupancy"),
)
PARTIAL_NAMES = tuple(p.name for p in PARTIALS)


def _ratio(num: str, den: str) -> Callable[[pd.DataFrame, int], pd.Series]:
    return lambda f, _: (f[num] / f[den]).where(f[den] > 0)


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate("readings", lambda f, _: f["n"].astype("int64")),
    Aggregate("energy_kwh", lambda f, _: f["energy_sum"]),
    Aggregate("avg_kwh", _ratio("energy_sum", "n")),
    Aggregate("peak_kwh", lambda f, _: f["energy_max"]),
    # Demand: the window's energy over its length in hours.
    Aggregate("demand_kw", lambda f, length: f["energy_sum"] / (length / 3600)),
    Aggregate("avg_temperature", _ratio("temperature_sum", "temperature_count")),
    Aggregate("avg_humidity", _ratio("humidity_sum", "humidity_count")),
    Aggregate("avg_occupancy", _ratio("occupancy_sum", "occupancy_count")),
)
KEY = ("building_id", "ws")  # ws: window start, epoch seconds
WINDOW_COLUMNS = ("building_id", "window_start", "window_end",
                  *(a.column for a in AGGREGATES), "hour_of_week")


def partial_columns() -> list[Column]:
    return [p.spark().alias(p.name) for p in PARTIALS]


def empty() -> pd.DataFrame:
    """A table of running windows with no rows: KEY plus every partial."""
    return pd.DataFrame({"building_id": pd.Series(dtype=object),
                         "ws": pd.Series(dtype="int64"),
                         **{p.name: pd.Series(dtype=p.dtype) for p in PARTIALS}})


def typed(partials: pd.DataFrame) -> pd.DataFrame:
    """Partials as a batch's aggregate returns them (nulls where nothing was summed) →
    the running table's types."""
    out = partials.copy()
    for p in PARTIALS:
        col = pd.to_numeric(out[p.name]).astype("float64")  # all-null sums arrive as objects
        if p.merge == "sum":
            col = col.fillna(0.0)
        out[p.name] = col.astype(p.dtype)
    out["ws"] = out["ws"].astype("int64")
    return out


def merge(prior: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame:
    """Running partials after a batch: `prior` rows aligned to `batch` (NaN where the window
    is new) combined with the batch's partials, row by row."""
    out = batch[list(KEY)].copy()
    for p in PARTIALS:
        before, now = prior[p.name].to_numpy(dtype="float64"), batch[p.name].to_numpy(
            dtype="float64")
        if p.merge == "sum":
            v = np.nan_to_num(before) + np.nan_to_num(now)
        elif p.merge == "min":
            v = np.fmin(before, now)
        else:
            v = np.fmax(before, now)
        out[p.name] = v.astype(p.dtype) if p.dtype == "int64" else v
    return out


def finish(partials: pd.DataFrame, length_s: int) -> pd.DataFrame:
    """Partials → one row per window with WINDOW_COLUMNS (timestamps naive UTC)."""
    ws = partials["ws"].to_numpy(dtype="int64")
    start = pd.to_datetime(ws, unit="s")
    out = pd.DataFrame({"building_id": partials["building_id"].to_numpy(),
                        "window_start": start,
                        "window_end": pd.to_datetime(ws + length_s, unit="s")})
    for a in AGGREGATES:
        v = a.value(partials, length_s)
        out[a.column] = v.to_numpy() if isinstance(v, pd.Series) else v
    out["hour_of_week"] = hour_of_week(start).astype("int32")
    return out


def hour_of_week(starts: pd.DatetimeIndex) -> np.ndarray:
    """Monday 00:00 UTC = 0 … Sunday 23:00 = 167."""
    idx = pd.DatetimeIndex(starts)
    return (idx.dayofweek * 24 + idx.hour).to_numpy()
