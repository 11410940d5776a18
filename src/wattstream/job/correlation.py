"""Streaming Pearson correlation of energy with temperature, humidity, occupancy and hour, per
building, from running sums kept over a sliding event-time horizon.

Each micro-batch contributes sums (n, Σx, Σy, Σxy, Σx², Σy²) per building, factor and time
bucket (`batch_sums`, a DataFrame → DataFrame step); the driver keeps the buckets inside the
horizon (`PearsonTracker`) and r = (nΣxy − ΣxΣy) / √((nΣx² − (Σx)²)(nΣy² − (Σy)²)).
"""

from __future__ import annotations

import math
from collections import defaultdict

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

FACTORS = ("temperature", "humidity", "occupancy", "hour")
_SUMS = ("n", "sx", "sy", "sxy", "sxx", "syy")


def batch_sums(readings: DataFrame, bucket_seconds: int) -> DataFrame:
    """Per building, bucket (epoch seconds) and factor: the six sums over readings where the
    factor is present."""
    bucket = (F.floor(F.unix_timestamp("timestamp") / bucket_seconds) * bucket_seconds)
    y = F.col("energy_kwh")
    aggs = []
    for f in FACTORS:
        x = F.col(f).cast("double")
        present = x.isNotNull()
        aggs += [
            F.sum(F.when(present, 1).otherwise(0)).alias(f"{f}_n"),
            F.sum(F.when(present, x)).alias(f"{f}_sx"),
            F.sum(F.when(present, y)).alias(f"{f}_sy"),
            F.sum(F.when(present, x * y)).alias(f"{f}_sxy"),
            F.sum(F.when(present, x * x)).alias(f"{f}_sxx"),
            F.sum(F.when(present, y * y)).alias(f"{f}_syy"),
        ]
    return readings.groupBy("building_id", bucket.cast("long").alias("bucket")).agg(*aggs)


def pearson(n: float, sx: float, sy: float, sxy: float, sxx: float, syy: float) -> float | None:
    """r from the sums; None when undefined (fewer than 3 points or a constant series)."""
    if n < 3:
        return None
    cov = n * sxy - sx * sy
    vx = n * sxx - sx * sx
    vy = n * syy - sy * sy
    if vx <= 1e-12 * max(1.0, n * sxx) or vy <= 1e-12 * max(1.0, n * syy):
        return None
    return max(-1.0, min(1.0, cov / math.sqrt(vx * vy)))


class PearsonTracker:
    """Sums per building and bucket on the driver, dropping buckets older than the horizon
    behind the newest bucket seen."""

    def __init__(self, horizon_seconds: int, bucket_seconds: int):
        self.horizon = horizon_seconds
        self.bucket = bucket_seconds
        self.newest = None
        # building -> bucket -> factor -> [n, sx, sy, sxy, sxx, syy]
        self._sums: dict[str, dict[int, dict[str, list[float]]]] = defaultdict(dict)

    def add(self, rows) -> set[str]:
        """Fold rows of `batch_sums` in; return the buildings that changed."""
        changed = set()
        for r in rows:
            d = r.asDict() if hasattr(r, "asDict") else dict(r)
            b, bucket = d["building_id"], int(d["bucket"])
            slot = self._sums[b].setdefault(bucket, {f: [0.0] * 6 for f in FACTORS})
            for f in FACTORS:
                vals = [d[f"{f}_{s}"] or 0.0 for s in _SUMS]
                slot[f] = [a + v for a, v in zip(slot[f], vals, strict=True)]
            self.newest = bucket if self.newest is None else max(self.newest, bucket)
            changed.add(b)
        self._expire()
        return changed

    def _expire(self) -> None:
        if self.newest is None:
            return
        oldest = self.newest - self.horizon + self.bucket
        for b in list(self._sums):
            buckets = self._sums[b]
            for k in [k for k in buckets if k < oldest]:
                del buckets[k]
            if not buckets:
                del self._sums[b]

    def correlations(self, building: str) -> dict[str, float | None]:
        totals = {f: [0.0] * 6 for f in FACTORS}
        for slot in self._sums.get(building, {}).values():
            for f in FACTORS:
                totals[f] = [a + v for a, v in zip(totals[f], slot[f], strict=True)]
        return {f: pearson(*totals[f]) for f in FACTORS}
