"""Billing periods and demand intervals, as the utility counts them (`tariff` config): shared
by the job's peak warnings and the batch analytics that score them."""

from __future__ import annotations

import numpy as np
import pandas as pd


def billing_month(ts_s: np.ndarray, billing_day: int) -> np.ndarray:
    """The billing period of each instant (epoch seconds) as months since 1970-01: a period
    starts at 00:00 UTC on `billing_day`."""
    t = pd.to_datetime(np.asarray(ts_s, dtype="int64"), unit="s")
    months = (t.year - 1970) * 12 + t.month - 1
    return np.where(t.day < billing_day, months - 1, months).astype("int64")


def interval_demand(windows: pd.DataFrame, interval_s: int, length_s: int) -> pd.DataFrame:
    """Average kW per building and demand interval from closed windows (`building_id`,
    `window_start` naive UTC, `energy_kwh`); only intervals whose every window is there."""
    ws = (pd.to_datetime(windows["window_start"]) - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    iv = ws // interval_s * interval_s
    g = pd.DataFrame({"building_id": windows["building_id"].to_numpy(), "iv": iv.to_numpy(),
                      "energy_kwh": windows["energy_kwh"].to_numpy()}).groupby(
        ["building_id", "iv"])["energy_kwh"].agg(["sum", "size"]).reset_index()
    g = g[g["size"] == interval_s // length_s]
    return pd.DataFrame({"building_id": g["building_id"].to_numpy(),
                         "iv": g["iv"].to_numpy(dtype="int64"),
                         "kw": g["sum"].to_numpy() / (interval_s / 3600)})
