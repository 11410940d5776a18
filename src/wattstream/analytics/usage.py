"""Stored windows as dense per-building hourly arrays, and the highest demand intervals of each
billing month: what the recommendations and the report read.

    usage = read_usage(spark, cfg, since, until)     # Spark reduces, numpy holds the rest
    usage.energy[b, h]                               # kWh of building b in hour h (NaN: none)

Spark reads the windows (file:// or hdfs://) in one pass and sums them per building and hour,
with the energy of each part of the hour the billing intervals are made of (quarters for
15-minute intervals). Only that hourly table reaches Python, so a month of 10 000 buildings is
7.2 M rows, not 86 M windows; numpy finds the highest intervals of each billing month. Every
price and carbon intensity of the tariff is constant within an hour (its cells are hours), so
costs priced per hour equal the windows' own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import layout
from ..billing import bill_table, billing_month, monthly_peaks
from ..config import Config
from ..errors import WattstreamError
from ..tariff import Tariff
from .warehouse import stored

HOUR = 3600
TOP_COLUMNS = ("building_id", "month", "iv", "kw")


@dataclass
class Usage:
    """Hourly usage of B buildings over H hours from `start_s` (epoch seconds, whole hour)."""

    buildings: np.ndarray        # (B,) ids
    start_s: int
    energy: np.ndarray           # (B, H) kWh; NaN where no window
    windows: np.ndarray          # (B, H) windows stored
    temperature: np.ndarray      # (B, H) mean outdoor °C of the windows; NaN: none
    occupancy: np.ndarray        # (B, H) mean occupancy; NaN: none
    length_s: int                # window length
    top: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TOP_COLUMNS)))
    # ^ the highest billing intervals of each building and billing month, kW, highest first
    local_time_mismatches: np.ndarray | None = None
    # ^ (B,) readings whose day_of_week/hour disagreed with the building's zone; None: unknown

    @property
    def hours_s(self) -> np.ndarray:
        return self.start_s + HOUR * np.arange(self.energy.shape[1], dtype="int64")

    @property
    def days(self) -> float:
        return self.energy.shape[1] / 24

    def kw(self) -> np.ndarray:
        """Average kW of each hour over the windows stored in it (NaN: none)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.windows > 0,
                            self.energy / (self.windows * self.length_s / HOUR), np.nan)

    def bills(self, tariff: Tariff) -> pd.DataFrame:
        """`billing.BILL_COLUMNS` per building and billing month of the period, energy priced
        per hour."""
        hours = self.hours_s
        month = billing_month(hours, tariff.cfg.billing_day, tariff.cfg.timezone)
        e = np.nan_to_num(self.energy)
        price, carbon = tariff.price_per_kwh(hours), tariff.carbon_kg_per_kwh(hours)
        parts = []
        for m in np.unique(month):
            cols = month == m
            seen = (self.windows[:, cols] > 0).any(axis=1)
            parts.append(pd.DataFrame({
                "building_id": self.buildings[seen], "month": m,
                "energy_kwh": e[seen][:, cols].sum(axis=1),
                "energy_cost": e[seen][:, cols] @ price[cols],
                "co2_kg": e[seen][:, cols] @ carbon[cols]}))
        sums = pd.concat(parts, ignore_index=True)
        return bill_table(sums, monthly_peaks(self.top), tariff)

    def index(self, building: str) -> int:
        hit = np.flatnonzero(self.buildings == building)
        if not len(hit):
            raise WattstreamError(f"building {building!r} has no stored windows in the period")
        return int(hit[0])

    def take(self, rows) -> Usage:
        rows = np.atleast_1d(rows)
        keep = set(self.buildings[rows])
        return Usage(self.buildings[rows], self.start_s, self.energy[rows], self.windows[rows],
                     self.temperature[rows], self.occupancy[rows], self.length_s,
                     self.top[self.top["building_id"].isin(keep)].reset_index(drop=True))


def period(spark, cfg: Config, since: pd.Timestamp | None, until: pd.Timestamp | None
           ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The report's period (naive UTC, whole hours): as given, else the last `report.days`
    days of the stored windows."""


    if until is None or since is None:
        first, last = _span(spark, cfg)
        until = until or last.ceil("h")
        since = since or max(until - pd.Timedelta(days=cfg.report.days), first.floor("h"))
    if since >= until:
        raise WattstreamError(f"--from ({since}) is not before --to ({until})")
    return since.floor("h"), until.ceil("h")


def _span(spark, cfg: Config) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First window start and last window end stored, reading only the first and last day's
    files (the job writes windows/date=<day>/)."""
    from pyspark.sql import functions as F

    from ..files import Files

    folder = layout.data(cfg, "windows")
    days = [n.split("=", 1)[1] for n in Files(spark).list(folder) if n.startswith("date=")]
    windows = stored(spark, cfg, "windows")
    if windows is None or not days:
        raise WattstreamError("no stored windows: run the job first")
    # A window is filed under its start's day; the newest may end on the next.
    got = windows.where(F.col("date").isin(days[0], days[-1])).agg(
        F.min("window_start"), F.max("window_end")).collect()[0]
    if got[0] is None:
        raise WattstreamError("no stored windows: run the job first")
    return pd.Timestamp(got[0]), pd.Timestamp(got[1])


def read_usage(spark, cfg: Config, since: pd.Timestamp, until: pd.Timestamp,
               building: str | None = None) -> Usage:
    """The stored windows of [since, until) (naive UTC, whole hours) as `Usage`."""
    from pyspark.sql import functions as F

    found = stored(spark, cfg, "windows")
    if found is None:
        raise WattstreamError("no stored windows: run the job first")
    tariff = Tariff(cfg.tariff)
    # The day folders first (partition pruning: a long history is not read), then the windows.
    w = found.where((F.col("date") >= F.lit(since.date())) & (F.col("date") <= F.lit(until.date()))
                    ).where((F.col("window_start") >= F.lit(since.to_pydatetime()))
                            & (F.col("window_start") < F.lit(until.to_pydatetime())))
    if building is not None:
        w = w.where(F.col("building_id") == building)
    ts = F.unix_seconds(F.col("window_start"))
    q = parts_per_hour(tariff.interval_s)
    part = F.floor((ts % HOUR) / (HOUR // q))
    # Windows stored before the local-time check have no such column: nothing counted.
    mism = (F.sum("local_time_mismatches") if "local_time_mismatches" in w.columns
            else F.lit(0)).alias("lm")
    # One pass: per building and hour, the sums and the energy of each part of the hour (the
    # billing intervals are made of parts; the peaks are found in numpy).
    hourly = w.groupBy("building_id", (F.floor(ts / HOUR) * HOUR).alias("h")).agg(
        F.sum("energy_kwh").alias("e"), F.count(F.lit(1)).alias("n"),
        F.sum("avg_temperature").alias("ts"), F.count("avg_temperature").alias("tn"),
        F.sum("avg_occupancy").alias("os"), F.count("avg_occupancy").alias("on"), mism,
        *[F.sum(F.when(part == k, F.col("energy_kwh"))).alias(f"p{k}") for k in range(q)]
    ).toArrow()
    return dense(hourly, since, until, cfg.windows.length_seconds, tariff,
                 _top_k(cfg, tariff.interval_s))


def parts_per_hour(interval_s: int) -> int:
    """Parts an hour is cut into so that billing intervals are whole parts."""
    return HOUR // math.gcd(HOUR, interval_s)


def _top_k(cfg: Config, iv_s: int) -> int:
    """Intervals kept per building and month: enough for the peak-shaving cap, and at least
    the 10 the building pages show."""
    return max(10, math.ceil(cfg.recommend.peak_shave_hours * HOUR / iv_s) + 1)


def dense(hourly: pa.Table, since: pd.Timestamp, until: pd.Timestamp, length_s: int,
          tariff: Tariff, top_k: int = 10) -> Usage:
    """Hourly rows (`building_id`, `h` epoch s, sums `e`, `n`, `ts`, `tn`, `os`, `on`, and
    `p0`… the energy of each part of the hour, `parts_per_hour`) → `Usage` over
    [since, until), with the `top_k` highest billing intervals of each building and month."""
    start = int(since.timestamp())
    hours = int((until - since) / pd.Timedelta(hours=1))
    ids = pc.dictionary_encode(hourly["building_id"].combine_chunks())
    names = np.asarray(ids.dictionary.to_pylist(), dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(names), dtype="int64")
    rank[order] = np.arange(len(names))
    b = rank[ids.indices.to_numpy(zero_copy_only=False)]
    h = (hourly["h"].to_numpy() - start) // HOUR
    shape = (len(names), hours)

    def grid(col: str, missing: float = 0.0) -> np.ndarray:
        out = np.full(shape, missing)
        v = hourly[col].to_numpy(zero_copy_only=False).astype("float64")
        out[b, h] = v if np.isnan(missing) else np.nan_to_num(v)
        return out

    n = grid("n")
    with np.errstate(invalid="ignore", divide="ignore"):
        energy = np.where(n > 0, grid("e"), np.nan)
        temperature = grid("ts") / grid("tn")
        occupancy = grid("os") / grid("on")
    q = parts_per_hour(tariff.interval_s)
    parts = np.stack([grid(f"p{k}", np.nan) for k in range(q)], axis=2).reshape(
        len(names), hours * q)
    top = top_intervals(names[order], parts, start, HOUR // q, tariff, top_k)
    mism = grid("lm").sum(axis=1).astype("int64") if "lm" in hourly.column_names else None
    return Usage(names[order], start, energy, n, temperature, occupancy, length_s, top, mism)


def top_intervals(buildings: np.ndarray, parts: np.ndarray, start_s: int, part_s: int,
                  tariff: Tariff, k: int) -> pd.DataFrame:
    """The k highest billing intervals (kW) of each building and billing month, highest
    first, the earliest on a tie, from the energy of consecutive parts ((B, P) kWh from
    `start_s`, NaN where no window): an interval is the parts it covers, partial ones too."""
    iv_s = tariff.interval_s
    t = start_s + part_s * np.arange(parts.shape[1], dtype="int64")
    iv = t // iv_s * iv_s
    first = np.r_[0, np.flatnonzero(iv[1:] != iv[:-1]) + 1]
    seen = np.add.reduceat(np.isfinite(parts), first, axis=1) > 0
    kw = np.where(seen, np.add.reduceat(np.nan_to_num(parts), first, axis=1), np.nan) / (
        iv_s / HOUR)
    starts = iv[first]
    month = billing_month(starts, tariff.cfg.billing_day, tariff.cfg.timezone)
    frames = []
    for m in np.unique(month):
        cols = np.flatnonzero(month == m)
        v = np.where(np.isfinite(kw[:, cols]), kw[:, cols], -np.inf)
        take = min(k, v.shape[1])
        # The k highest (argpartition), then highest first and the earliest on a tie (a
        # stable sort of the negated values by position).
        some = np.sort(np.argpartition(-v, take - 1, axis=1)[:, :take], axis=1)
        order = np.take_along_axis(some, np.argsort(-np.take_along_axis(v, some, axis=1),
                                                     axis=1, kind="stable"), axis=1)
        got = np.take_along_axis(v, order, axis=1)
        rows, pos = np.nonzero(np.isfinite(got))
        frames.append(pd.DataFrame({"building_id": buildings[rows], "month": int(m),
                                    "iv": starts[cols[order[rows, pos]]],
                                    "kw": got[rows, pos]}))
    if not frames:
        return pd.DataFrame(columns=list(TOP_COLUMNS))
    return pd.concat(frames, ignore_index=True).astype(
        {"month": "int64", "iv": "int64", "kw": "float64"})


def from_windows(windows: pd.DataFrame, length_s: int, tariff: Tariff,
                 since: pd.Timestamp | None = None, until: pd.Timestamp | None = None,
                 top_k: int = 10) -> Usage:
    """`Usage` of windows in a pandas frame (`building_id`, `window_start` naive UTC,
    `energy_kwh`, optional `avg_temperature`, `avg_occupancy`), summed as `read_usage` has
    Spark sum them: for tests and small data."""
    ws = pd.to_datetime(windows["window_start"])
    since = since if since is not None else ws.min().floor("h")
    until = until if until is not None else (ws.max() + pd.Timedelta(seconds=length_s)).ceil("h")
    s = ((ws - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).to_numpy()
    temp = windows.get("avg_temperature", pd.Series(np.nan, index=windows.index))
    occ = windows.get("avg_occupancy", pd.Series(np.nan, index=windows.index))
    e = windows["energy_kwh"].to_numpy(dtype="float64")
    q = parts_per_hour(tariff.interval_s)
    part = (s % HOUR) // (HOUR // q)
    df = pd.DataFrame({"building_id": windows["building_id"].to_numpy(), "h": s // HOUR * HOUR,
                       "e": e, "n": 1, "ts": temp.to_numpy(dtype="float64"),
                       "tn": temp.notna().to_numpy().astype(int),
                       "os": occ.to_numpy(dtype="float64"),
                       "on": occ.notna().to_numpy().astype(int),
                       **{f"p{k}": np.where(part == k, e, np.nan) for k in range(q)}})
    hourly = df.groupby(["building_id", "h"], as_index=False).sum(min_count=1)
    return dense(pa.Table.from_pandas(hourly, preserve_index=False), since, until, length_s,
                 tariff, top_k)
