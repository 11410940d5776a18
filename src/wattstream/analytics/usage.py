"""Stored windows as dense per-building hourly arrays, and the highest demand intervals of each
billing month: what the recommendations and the report read.

    usage = read_usage(spark, cfg, since, until)     # Spark reduces, numpy holds the rest
    usage.energy[b, h]                               # kWh of building b in hour h (NaN: none)

Spark does the one pass over the windows (file:// or hdfs://): sums per building and
`bucket` (the greatest common divisor of an hour and the billing interval), then per hour and
per billing interval. Only the hourly table and the top intervals reach Python, so a month of
10 000 buildings is 7.2 M hourly rows, not 86 M windows. Every price and carbon intensity of
the tariff is constant within an hour (its cells are hours), so costs priced per hour equal
the windows' own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..billing import bill_table, billing_month, monthly_peaks
from ..config import Config
from ..errors import WattstreamError
from ..tariff import Tariff

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
    from pyspark.sql import functions as F

    from .commands import stored

    if until is None or since is None:
        windows = stored(spark, cfg, "windows")
        if windows is None:
            raise WattstreamError("no stored windows: run the job first")
        first, last = windows.agg(F.min("window_start"), F.max("window_end")).collect()[0]
        if last is None:
            raise WattstreamError("no stored windows: run the job first")
        until = until or pd.Timestamp(last).ceil("h")
        since = since or max(until - pd.Timedelta(days=cfg.report.days),
                             pd.Timestamp(first).floor("h"))
    if since >= until:
        raise WattstreamError(f"--from ({since}) is not before --to ({until})")
    return since.floor("h"), until.ceil("h")


def read_usage(spark, cfg: Config, since: pd.Timestamp, until: pd.Timestamp,
               building: str | None = None, top_per_month: int | None = None) -> Usage:
    """The stored windows of [since, until) (naive UTC, whole hours) as `Usage`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from .commands import stored

    found = stored(spark, cfg, "windows")
    if found is None:
        raise WattstreamError("no stored windows: run the job first")
    tariff = Tariff(cfg.tariff)
    iv_s = tariff.interval_s
    bucket = math.gcd(HOUR, iv_s)
    w = found.where((F.col("window_start") >= F.lit(since.to_pydatetime()))
                    & (F.col("window_start") < F.lit(until.to_pydatetime())))
    if building is not None:
        w = w.where(F.col("building_id") == building)
    ts = F.unix_seconds(F.col("window_start"))
    sums = [F.sum("energy_kwh").alias("e"), F.count(F.lit(1)).alias("n"),
            F.sum("avg_temperature").alias("ts"), F.count("avg_temperature").alias("tn"),
            F.sum("avg_occupancy").alias("os"), F.count("avg_occupancy").alias("on")]
    fine = w.groupBy("building_id", (F.floor(ts / bucket) * bucket).alias("t")).agg(*sums)
    fine = fine.persist()
    try:
        again = [F.sum(c).alias(c) for c in ("e", "n", "ts", "tn", "os", "on")]
        hourly = fine.groupBy("building_id", (F.floor(F.col("t") / HOUR) * HOUR).alias("h")
                              ).agg(*again).toArrow()
        k = top_per_month or _top_k(cfg, iv_s)
        local = F.from_utc_timestamp(F.timestamp_seconds("iv"), cfg.tariff.timezone)
        month = ((F.year(local) - 1970) * 12 + F.month(local) - 1
                 - F.when(F.dayofmonth(local) < cfg.tariff.billing_day, 1).otherwise(0))
        intervals = (fine.groupBy("building_id", (F.floor(F.col("t") / iv_s) * iv_s)
                                  .alias("iv")).agg(F.sum("e").alias("e"))
                     .withColumn("month", month))
        rank = F.row_number().over(Window.partitionBy("building_id", "month")
                                   .orderBy(F.col("e").desc(), F.col("iv")))
        top = (intervals.withColumn("r", rank).where(F.col("r") <= k)
               .select("building_id", "month", "iv",
                       (F.col("e") / (iv_s / HOUR)).alias("kw")).toPandas())
    finally:
        fine.unpersist()
    return dense(hourly, since, until, cfg.windows.length_seconds, top)


def _top_k(cfg: Config, iv_s: int) -> int:
    """Intervals kept per building and month: enough for the peak-shaving cap, and at least
    the 10 the building pages show."""
    return max(10, math.ceil(cfg.recommend.peak_shave_hours * HOUR / iv_s) + 1)


def dense(hourly: pa.Table, since: pd.Timestamp, until: pd.Timestamp, length_s: int,
          top: pd.DataFrame) -> Usage:
    """Hourly rows (`building_id`, `h` epoch s, sums `e`, `n`, `ts`, `tn`, `os`, `on`) →
    `Usage` over [since, until)."""
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

    def grid(col: str) -> np.ndarray:
        out = np.zeros(shape)
        out[b, h] = np.nan_to_num(hourly[col].to_numpy(zero_copy_only=False).astype("float64"))
        return out

    n = grid("n")
    with np.errstate(invalid="ignore", divide="ignore"):
        energy = np.where(n > 0, grid("e"), np.nan)
        temperature = grid("ts") / grid("tn")
        occupancy = grid("os") / grid("on")
    top = top.sort_values(["building_id", "month", "kw", "iv"],
                          ascending=[True, True, False, True], ignore_index=True)
    return Usage(names[order], start, energy, n, temperature, occupancy, length_s,
                 top.astype({"month": "int64", "iv": "int64", "kw": "float64"}))


def from_windows(windows: pd.DataFrame, length_s: int, tariff: Tariff,
                 since: pd.Timestamp | None = None, until: pd.Timestamp | None = None,
                 top_per_month: int = 10) -> Usage:
    """`Usage` of windows in a pandas frame (`building_id`, `window_start` naive UTC,
    `energy_kwh`, optional `avg_temperature`, `avg_occupancy`), as `read_usage` makes it from
    storage: for tests and small data."""
    ws = pd.to_datetime(windows["window_start"])
    since = since if since is not None else ws.min().floor("h")
    until = until if until is not None else (ws.max() + pd.Timedelta(seconds=length_s)).ceil("h")
    s = ((ws - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).to_numpy()
    temp = windows.get("avg_temperature", pd.Series(np.nan, index=windows.index))
    occ = windows.get("avg_occupancy", pd.Series(np.nan, index=windows.index))
    df = pd.DataFrame({"building_id": windows["building_id"].to_numpy(), "h": s // HOUR * HOUR,
                       "e": windows["energy_kwh"].to_numpy(dtype="float64"), "n": 1,
                       "ts": temp.to_numpy(dtype="float64"),
                       "tn": temp.notna().to_numpy().astype(int),
                       "os": occ.to_numpy(dtype="float64"),
                       "on": occ.notna().to_numpy().astype(int)})
    hourly = df.groupby(["building_id", "h"], as_index=False).sum(min_count=0)
    iv = s // tariff.interval_s * tariff.interval_s
    kw = pd.DataFrame({"building_id": df["building_id"], "iv": iv, "e": df["e"]}).groupby(
        ["building_id", "iv"], as_index=False)["e"].sum()
    kw["kw"] = kw["e"] / (tariff.interval_s / HOUR)
    kw["month"] = billing_month(kw["iv"].to_numpy(), tariff.cfg.billing_day,
                                tariff.cfg.timezone)
    top = kw.sort_values(["building_id", "month", "kw", "iv"],
                         ascending=[True, True, False, True]).groupby(
        ["building_id", "month"]).head(top_per_month)
    return dense(pa.Table.from_pandas(hourly, preserve_index=False), since, until, length_s,
                 top[list(TOP_COLUMNS)])
