"""The window aggregates, defined once: each column of a (building, window) row says which
partial sums the JVM computes per micro-batch, how the driver merges them into the running
window, and how the column follows from them. The live view, the threshold alerts, the
abnormal-usage check and the final windows all read these columns.

    partial_columns()            # Spark aggregate expressions over a batch's readings
    grouped_partials(rows, keys) # the same on the driver, over a small batch's rows (pandas)
    merge(prior, batch)          # running partials + a batch's partials (pandas)
    finish(partials, length_s, calendar)  # partials → WINDOW_COLUMNS (pandas)

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

from ..localtime import HOURS_OF_WEEK, UTC, Calendar, calendar_fields


@dataclass(frozen=True)
class Partial:
    """A per-window count, sum, minimum or maximum over readings, mergeable across
    micro-batches. The same definition runs in the JVM (`spark`, big batches) and on the
    driver (`grouped`, over a small batch's collected rows)."""

    name: str
    op: str  # "count", "sum", "min" or "max"
    src: str | None = None  # the reading column; a count without one counts rows

    @property
    def merge(self) -> str:
        """How a batch's partial combines with the running one: "sum", "min" or "max"."""
        return "sum" if self.op == "count" else self.op

    @property
    def dtype(self) -> str:
        return "int64" if self.op == "count" else "float64"

    def spark(self) -> Column:
        """The aggregate over one batch's readings of a window."""
        if self.op == "count":
            return F.count(F.lit(1) if self.src is None else F.col(self.src))
        x = F.col(self.src).cast("double")
        return {"sum": F.sum, "min": F.min, "max": F.max}[self.op](x)

    def grouped(self, groups, size: pd.Series) -> pd.Series:
        """The same over a pandas GroupBy of readings: nulls skipped, and like Spark's an
        all-null sum, minimum or maximum is null (NaN)."""
        if self.src is None:
            return size
        col = groups[self.src]
        if self.op == "count":
            return col.count()
        if self.op == "sum":
            return col.sum(min_count=1)
        return getattr(col, self.op)()


@dataclass(frozen=True)
class Aggregate:
    """A window column and how it follows from the partials (`Frame` → values)."""

    column: str
    value: Callable[[pd.DataFrame, int], pd.Series | np.ndarray]


def _count(name: str, src: str | None = None) -> Partial:
    return Partial(name, "count", src)


def _sum(name: str, src: str) -> Partial:
    return Partial(name, "sum", src)


def _max(name: str, src: str) -> Partial:
    return Partial(name, "max", src)


def _min(name: str, src: str) -> Partial:
    return Partial(name, "min", src)


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
    # The local hour of the week the readings carry (day_of_week * 24 + hour), checked in
    # `finish` against the building's zone. Its own count: a window saved by a release
    # without it has readings these sums never saw.
    _count("local_how_count", "local_how"), _sum("local_how_sum", "local_how"),
    _min("local_how_min", "local_how"), _max("local_how_max", "local_how"),
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
                  *(a.column for a in AGGREGATES), "hour_of_week", "local_time_mismatches")


def partial_columns() -> list[Column]:
    return [p.spark().alias(p.name) for p in PARTIALS]


def grouped_partials(rows: pd.DataFrame, keys: list[str],
                     partials: tuple[Partial, ...] = PARTIALS) -> pd.DataFrame:
    """`partial_columns` on the driver: one row per group of `keys` (nulls a group of their
    own), over readings whose numeric columns are float64 (NaN for null)."""
    groups = rows.groupby(keys, dropna=False, sort=False)
    size = groups.size()
    return pd.DataFrame({p.name: p.grouped(groups, size) for p in partials}).reset_index()


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
    # A batch without an on-time reading (all late, or an idle-close record) has no building
    # to infer the type from.
    out["building_id"] = out["building_id"].astype(object)
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


def finish(partials: pd.DataFrame, length_s: int,
           calendar: Calendar | None = None) -> pd.DataFrame:
    """Partials → one row per window with WINDOW_COLUMNS (timestamps naive UTC; the hour of
    the week local to each building's zone and day type, UTC without `calendar`)."""
    ws = partials["ws"].to_numpy(dtype="int64")
    start = pd.to_datetime(ws, unit="s")
    out = pd.DataFrame({"building_id": partials["building_id"].to_numpy(),
                        "window_start": start,
                        "window_end": pd.to_datetime(ws + length_s, unit="s")})
    for a in AGGREGATES:
        v = a.value(partials, length_s)
        out[a.column] = v.to_numpy() if isinstance(v, pd.Series) else v
    buildings = out["building_id"].tolist()
    dow, hour = (calendar.fields(buildings, ws) if calendar is not None
                 else calendar_fields(UTC, ws))
    how = dow * 24 + hour
    # A holiday or closure day is its own day type: 168 + the local hour.
    off = calendar.day_off(buildings, ws) if calendar is not None else np.zeros(len(ws), bool)
    out["hour_of_week"] = np.where(off, HOURS_OF_WEEK + hour, how).astype("int32")
    out["local_time_mismatches"] = local_time_mismatches(partials, how)
    return out


def local_time_mismatches(partials: pd.DataFrame, how: np.ndarray) -> np.ndarray:
    """Readings of each window whose local day_of_week and hour disagree with the hour of
    the week of its zone (`how`). A window of a few minutes sits in one local hour, so its
    readings carry one value, or two where some disagree: from the count, sum, minimum and
    maximum the count of each value is exact for up to two values (more, and every reading
    not at the expected value is counted as one of the two extremes' share)."""
    n = partials["local_how_count"].to_numpy(dtype="float64")
    lo = partials["local_how_min"].to_numpy(dtype="float64")
    hi = partials["local_how_max"].to_numpy(dtype="float64")
    total = partials["local_how_sum"].to_numpy(dtype="float64")
    e = np.asarray(how, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        at_hi = np.where(hi > lo, np.rint((total - n * lo) / (hi - lo)), 0.0)
    at_hi = np.clip(np.nan_to_num(at_hi), 0, n)
    out = np.where(lo == hi, np.where(lo == e, 0.0, n),
                   np.where(e == lo, at_hi, np.where(e == hi, n - at_hi, n)))
    return np.nan_to_num(np.where(n > 0, out, 0.0)).astype("int64")
