"""Independent pandas computations of what the job must output."""

from __future__ import annotations

import pandas as pd


def frame(readings: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(readings)
    df["ts"] = pd.to_datetime(df["timestamp"], utc=True).dt.tz_convert(None)
    return df


def windows(readings: list[dict], length_s: int) -> pd.DataFrame:
    df = frame(readings)
    df["window_start"] = df["ts"].dt.floor(f"{length_s}s")
    g = df.groupby(["building_id", "window_start"])
    out = g.agg(readings=("energy_kwh", "size"), energy_kwh=("energy_kwh", "sum"),
                avg_kwh=("energy_kwh", "mean"), peak_kwh=("energy_kwh", "max"),
                avg_temperature=("temperature", "mean"), avg_humidity=("humidity", "mean"),
                avg_occupancy=("occupancy", "mean")).reset_index()
    out["demand_kw"] = out["energy_kwh"] / (length_s / 3600)
    return out.sort_values(["building_id", "window_start"]).reset_index(drop=True)


def crossings(batches: list[list[dict]], length_s: int, thresholds) -> pd.DataFrame:
    """For each building/window/type, the reading whose running energy first passes the
    threshold, folding batch after batch, each in event-time order."""
    rows = []
    for i, batch in enumerate(batches):
        df = frame(batch)
        df["batch"] = i
        rows.append(df)
    df = pd.concat(rows, ignore_index=True).sort_values(["batch", "ts"], kind="stable")
    df["window_start"] = df["ts"].dt.floor(f"{length_s}s")
    df["running"] = df.groupby(["building_id", "window_start"])["energy_kwh"].cumsum()
    out = []
    for (b, ws), g in df.groupby(["building_id", "window_start"]):
        high, peak = thresholds(b)
        for kind, thr in (("HIGH_CONSUMPTION", high), ("PEAK_DEMAND", peak)):
            over = g[g["running"] > thr]
            if len(over):
                first = over.iloc[0]
                out.append({"building_id": b, "window_start": ws, "type": kind,
                            "event_time": first["ts"], "value": first["running"],
                            "threshold": thr})
    return pd.DataFrame(out)
