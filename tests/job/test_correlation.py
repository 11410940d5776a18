"""Streaming Pearson from running sums equals numpy over the readings inside the horizon."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from jobkit import reading
from pyspark.sql import functions as F

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
        sums = df.groupBy("building_id", (F.floor(F.unix_timestamp("timestamp") / bucket)
                                          * bucket).cast("long").alias("bucket")).agg(
            *correlation.partial_columns())
        tracker.add(sums.toPandas())
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
    tracker = correlation.PearsonTracker(3600, 300)
    cases = {"tiny": (2, 1, 1, 1, 1, 1), "x-constant": (5, 10, 7, 14, 20, 11),
             "fine": (3, 6, 9, 20, 14, 29)}  # x = 1, 2, 3; y = 2, 3, 4
    rows = pd.DataFrame([{"building_id": b, "bucket": 0, **dict.fromkeys(tracker.COLUMNS, 0.0),
                          **{f"temperature_{k}": v for k, v in zip(correlation.SUMS, sums,
                                                                   strict=True)}}
                         for b, sums in cases.items()])
    tracker.add(rows)
    assert tracker.correlations("tiny")["temperature"] is None
    assert tracker.correlations("x-constant")["temperature"] is None
    assert tracker.correlations("fine")["temperature"] == pytest.approx(1.0)


def test_buildings_whose_sums_left_the_horizon_are_not_reported_as_changed():
    tracker = correlation.PearsonTracker(3600, 300)
    row = dict.fromkeys(tracker.COLUMNS, 1.0)
    rows = pd.DataFrame([{"building_id": "old", "bucket": 0, **row},
                         {"building_id": "new", "bucket": 7200, **row}])
    assert tracker.add(rows) == {"new"}
    assert list(tracker.table(["old", "new"]).index) == ["new"]
