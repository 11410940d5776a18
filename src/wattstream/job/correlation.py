"""Streaming Pearson correlation of energy with temperature, humidity, occupancy and hour, per
building, from running sums kept over a sliding event-time horizon.

Each micro-batch contributes sums (n, Σx, Σy, Σxy, Σx², Σy²) per building, factor and window
(`partial_columns`, aggregated in the JVM with the window's other partials, or
`grouped_partials` on the driver for a small batch); the driver keeps
the buckets inside the horizon (`PearsonTracker`) and
r = (nΣxy − ΣxΣy) / √((nΣx² − (Σx)²)(nΣy² − (Σy)²)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F

FACTORS = ("temperature", "humidity", "occupancy", "hour")
SUMS = ("n", "sx", "sy", "sxy", "sxx", "syy")


def _terms(x, y) -> dict:
    """Per-reading terms of the sums past n, on Spark Columns and pandas Series alike: `0 * x`
    is null (NaN) where the factor is absent, so y counts only where x does."""
    return {"sx": x, "sy": y + 0 * x, "sxy": x * y, "sxx": x * x, "syy": y * y + 0 * x}


def partial_columns() -> list[Column]:
    """Spark aggregates of the six sums per factor over a group of readings where the factor
    is present, named `<factor>_<sum>` (`PearsonTracker.COLUMNS`)."""
    y = F.col("energy_kwh")
    out = []
    for f in FACTORS:
        x = F.col(f).cast("double")
        out.append(F.count(x).alias(f"{f}_n"))
        out += [F.sum(t).alias(f"{f}_{k}") for k, t in _terms(x, y).items()]
    return out


def grouped_partials(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`partial_columns` on the driver: one row per group of `keys` (nulls a group of their
    own, groups in order of first appearance), over readings with float64 columns."""
    y = rows["energy_kwh"].astype("float64")
    terms = {}
    for f in FACTORS:
        x = rows[f].astype("float64")
        terms[f"{f}_n"] = x
        terms.update({f"{f}_{k}": t for k, t in _terms(x, y).items()})
    groups = rows[keys].assign(**terms).groupby(keys, dropna=False, sort=False)
    return pd.DataFrame({c: groups[c].count() if c.endswith("_n") else
                         groups[c].sum(min_count=1) for c in terms}).reset_index()


class PearsonTracker:
    """Sums per building and bucket on the driver, dropping buckets older than the horizon
    behind the newest bucket seen. One table per bucket, indexed by building: a batch of
    100 000 buildings folds in with one aligned addition, and an expired bucket goes whole."""

    COLUMNS = tuple(f"{f}_{s}" for f in FACTORS for s in SUMS)

    def __init__(self, horizon_seconds: int, bucket_seconds: int):
        self.horizon = horizon_seconds
        self.bucket = bucket_seconds
        self.newest = None
        self._buckets: dict[int, pd.DataFrame] = {}

    def add(self, sums: pd.DataFrame) -> set[str]:
        """Fold rows of `building_id`, `bucket` and COLUMNS in; return the buildings that
        changed and still have sums inside the horizon."""
        if sums.empty:
            return set()
        cols = list(self.COLUMNS)
        for bucket, part in sums.groupby(sums["bucket"].astype("int64"), sort=False):
            new = part.set_index("building_id")[cols].astype("float64").fillna(0.0)
            if not new.index.is_unique:
                new = new.groupby(level=0).sum()
            old = self._buckets.get(int(bucket))
            self._buckets[int(bucket)] = new if old is None else old.add(new, fill_value=0.0)
            self.newest = int(bucket) if self.newest is None else max(self.newest, int(bucket))
        oldest = self.newest - self.horizon + self.bucket
        for b in [b for b in self._buckets if b < oldest]:
            del self._buckets[b]
        return set(sums.loc[sums["bucket"].astype("int64") >= oldest, "building_id"])

    def table(self, buildings) -> pd.DataFrame:
        """r per building (rows) and factor (columns); NaN where undefined."""
        wanted = pd.Index(pd.unique(pd.Series(list(buildings), dtype=object)))
        parts = [t.reindex(wanted).dropna(how="all") for t in self._buckets.values()]
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(columns=list(FACTORS), dtype="float64")
        totals = pd.concat(parts).groupby(level=0).sum()
        out = pd.DataFrame(index=totals.index)
        for f in FACTORS:
            n, sx, sy, sxy, sxx, syy = (totals[f"{f}_{s}"].to_numpy() for s in SUMS)
            out[f] = _pearson_vec(n, sx, sy, sxy, sxx, syy)
        return out

    def correlations(self, building: str) -> dict[str, float | None]:
        t = self.table([building])
        if building not in t.index:
            return dict.fromkeys(FACTORS)
        return {f: None if np.isnan(v) else float(v) for f, v in t.loc[building].items()}


def _pearson_vec(n, sx, sy, sxy, sxx, syy) -> np.ndarray:
    """`pearson` over arrays: NaN where it would be None."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = n * sxy - sx * sy
        vx = n * sxx - sx * sx
        vy = n * syy - sy * sy
        ok = ((n >= 3) & (vx > 1e-12 * np.maximum(1.0, n * sxx))
              & (vy > 1e-12 * np.maximum(1.0, n * syy)))
        r = np.clip(cov / np.sqrt(vx * vy), -1.0, 1.0)
    return np.where(ok, r, np.nan)
