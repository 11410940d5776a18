"""The warehouse as the batch side reads it: the windows and alerts the job stored under
`storage.uri` (Parquet), as Spark DataFrames or small pandas tables."""

from __future__ import annotations

import pandas as pd

from .. import layout
from ..config import Config


def stored(spark, cfg: Config, name: str):
    """The stored `name` folder (windows, alerts) as a DataFrame; None if nothing is there."""
    try:
        return spark.read.parquet(layout.data(cfg, name))
    except Exception:  # noqa: BLE001 - AnalysisException: nothing stored there
        return None


def stored_alerts(spark, cfg: Config) -> pd.DataFrame:
    """building_id, type, event_time, window_start (naive UTC) and value of the stored
    alerts."""
    cols = ["building_id", "type", "event_time", "window_start", "value"]
    found = stored(spark, cfg, "alerts")
    out = found.select(*cols).toPandas() if found is not None else pd.DataFrame(columns=cols)
    for c in ("event_time", "window_start"):
        out[c] = pd.to_datetime(out[c])
    return out
