"""Streaming Pearson from running sums equals numpy over the readings inside the horizon."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from jobkit import reading

from wattstream.job import correlation


def test_streaming_pearson_matches_numpy_over_the_horizon(spark):
    rng = random.Random(5)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    rows = []
    for i in range(600):
        temp = rng.uniform(-5, 30)
        hum = None if i % 7 == 0 else rng.uniform(20, 90)
        rows.append(reading("b-1", t0 + timedelta(minutes=5 * i), 2 + 0.1 * temp
                            + rng.gauss(0, 0.5), temp, hum, rng.randrange(50)))
    horizon, bucket = 6 * 3600, 3600
    tracker = correlation.PearsonTracker(horizon, bucket)
    schema = ("timestamp string, building_id string, energy_kwh double, temperature double, "
              "humidity double, occupancy long, day_of_week long, hour long")
    for start in range(0, len(rows), 150):  # four micro-batches
        df = spark.createDataFrame(rows[start:start + 150], schema).selectExpr(
            "to_timestamp(timestamp) as timestamp", "building_id", "energy_kwh",
            "temperature", "humidity", "occupancy", "hour")
        tracker.add(correlation.batch_sums(df, bucket).collect())
    got = tracker.correlations("b-1")

    last = t0 + timedelta(minutes=5 * 599)
    oldest = (int(last.timestamp()) // bucket * bucket) - horizon + bucket
    inside = [r for r in rows if datetime.fromisoformat(r["timestamp"]).timestamp() >= oldest]
    for factor in ("temperature", "humidity", "occupancy", "hour"):
        pts = [(r[factor], r["energy_kwh"]) for r in inside if r[factor] is not None]
        x, y = np.array(pts, dtype=float).T
        assert got[factor] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-9), factor
    assert got["temperature"] > 0.5


def test_pearson_is_undefined_for_constant_or_tiny_series():
    assert correlation.pearson(2, 1, 1, 1, 1, 1) is None
    assert correlation.pearson(5, 10, 7, 14, 20, 11) is None  # x constant (=2)
