"""Tumbling event-time windows per building: the final (append) and the running (update) view.

    final = windows.aggregate(windows.watermarked(readings, cfg.windows), cfg.windows)
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..config import WindowConfig

WINDOW_COLUMNS = (
    "building_id", "window_start", "window_end", "readings", "energy_kwh", "avg_kwh", "peak_kwh",
    "demand_kw", "avg_temperature", "avg_humidity", "avg_occupancy", "hour_of_week", "date",
)


def watermarked(readings: DataFrame, w: WindowConfig) -> DataFrame:
    """Readings with the event-time watermark: later than `watermark_seconds` behind the newest
    event time seen, a reading is dropped (and counted by the listener)."""
    return readings.withWatermark("timestamp", f"{w.watermark_seconds} seconds")


def hour_of_week(ts: Column) -> Column:
    """Monday 00:00 UTC = 0 … Sunday 23:00 = 167."""
    return ((F.dayofweek(ts) + 5) % 7) * 24 + F.hour(ts)


def aggregate(readings: DataFrame, w: WindowConfig) -> DataFrame:
    """One row per building and window: averages are null-aware (absent humidity or occupancy
    does not count as zero); demand is the window's energy over its length in hours."""
    hours = w.length_seconds / 3600.0
    agg = (
        readings
        .groupBy(F.window("timestamp", f"{w.length_seconds} seconds").alias("w"), "building_id")
        .agg(
            F.count(F.lit(1)).alias("readings"),
            F.sum("energy_kwh").alias("energy_kwh"),
            F.avg("energy_kwh").alias("avg_kwh"),
            F.max("energy_kwh").alias("peak_kwh"),
            F.avg("temperature").alias("avg_temperature"),
            F.avg("humidity").alias("avg_humidity"),
            F.avg("occupancy").alias("avg_occupancy"),
        )
    )
    return agg.select(
        "building_id",
        F.col("w.start").alias("window_start"),
        F.col("w.end").alias("window_end"),
        "readings", "energy_kwh", "avg_kwh", "peak_kwh",
        (F.col("energy_kwh") / F.lit(hours)).alias("demand_kw"),
        "avg_temperature", "avg_humidity", "avg_occupancy",
        hour_of_week(F.col("w.start")).alias("hour_of_week"),
        F.to_date(F.col("w.start")).alias("date"),
    )
