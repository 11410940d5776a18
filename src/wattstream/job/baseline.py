"""The hour-of-week baseline of ABNORMAL_USAGE, built from the stored final windows.

    wattstream baseline            # reads <storage.uri>/windows, writes the baseline table
"""

from __future__ import annotations

import logging

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ..config import Config, resolve_uri
from ..errors import WattstreamError
from .alerts import BASELINE_COLUMNS
from .sinks import storage

log = logging.getLogger(__name__)


def location(cfg: Config) -> str:
    return resolve_uri(cfg.alerts.baseline_uri) if cfg.alerts.baseline_uri else storage(
        cfg, "baseline")


def _read(spark: SparkSession, path: str):
    from pyspark.errors import AnalysisException

    try:
        return spark.read.parquet(path)
    except AnalysisException:
        return None


def build(spark: SparkSession, cfg: Config) -> int:
    """Mean, standard deviation and count of window energy per building and hour of week;
    returns the number of rows written."""
    windows = _read(spark, storage(cfg, "windows"))
    if windows is None:
        raise WattstreamError(
            f"no windows under {storage(cfg, 'windows')}: run `wattstream job` first so it "
            "stores some")
    table = (windows.groupBy("building_id", "hour_of_week")
             .agg(F.avg("energy_kwh").alias("mean_kwh"),
                  F.coalesce(F.stddev_samp("energy_kwh"), F.lit(0.0)).alias("std_kwh"),
                  F.count(F.lit(1)).alias("windows")))
    table.coalesce(1).write.mode("overwrite").parquet(location(cfg))
    return spark.read.parquet(location(cfg)).count()


def load(spark: SparkSession, cfg: Config) -> pd.DataFrame | None:
    """The baseline table (`alerts.BASELINE_COLUMNS`), or None (the rule then stays silent)
    when not built yet."""
    table = _read(spark, location(cfg))
    if table is None:
        log.warning("no baseline at %s: ABNORMAL_USAGE stays silent until `wattstream "
                    "baseline` builds one", location(cfg))
        return None
    rows = table.select(*BASELINE_COLUMNS).toPandas().astype(
        {"hour_of_week": "int64", "windows": "int64"})
    log.info("baseline loaded: %d building/hour-of-week rows from %s", len(rows), location(cfg))
    return rows
