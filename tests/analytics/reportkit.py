"""A stored fleet for the report tests: windows and alerts in the job's Parquet layout, the
building metadata, a time-of-use tariff, and the figures the report must show worked out
from the files with pandas alone (no wattstream code)."""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

from wattstream.files import parquet_bytes, utc
from wattstream.job.sinks import ALERT_SCHEMA, WINDOW_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
START = pd.Timestamp("2026-06-01")  # a Monday
DAYS = 21
BUILDINGS = [f"b-{i}" for i in range(8)]
TARIFF = {"energy_price_per_kwh": 0.10, "demand_charge_per_kw": 15.0,
          "fixed_charge_per_month": 100.0, "carbon_kg_per_kwh": 0.4,
          "periods": {"on_peak": {"price_per_kwh": 0.30, "days": "mon-fri", "hours": "12-18"}}}


def windows() -> pd.DataFrame:
    """5-minute windows of eight offices: open 8-18 on weekdays; b-7 left on the night of
    Tuesday 9 June, b-6 with a 30-minute spike on Wednesday 10 June, b-5 missing a day."""
    rng = np.random.default_rng(7)
    ws = pd.date_range(START, periods=DAYS * 288, freq="5min")
    open_ = (ws.dayofweek < 5) & (ws.hour >= 8) & (ws.hour < 18)
    frames = []
    for i, b in enumerate(BUILDINGS):
        kw = np.where(open_, 80.0 + 5 * i, 20.0 + i) + rng.normal(0, 1.0, len(ws))
        if b == "b-7":
            kw[(ws >= "2026-06-09 19:00") & (ws < "2026-06-10 05:00")] += 60.0
        if b == "b-6":
            kw[(ws >= "2026-06-10 14:00") & (ws < "2026-06-10 14:30")] *= 3.0
        temp = 15 + 8 * np.sin((ws.hour.to_numpy() - 9) / 24 * 2 * np.pi) + 0.2 * (
            ws.day.to_numpy() - 10)
        f = pd.DataFrame({"building_id": b, "window_start": ws,
                          "window_end": ws + pd.Timedelta(minutes=5), "readings": 5,
                          "energy_kwh": kw / 12, "avg_temperature": temp,
                          "avg_occupancy": np.where(open_, 150.0, 0.0)})
        if b == "b-5":
            f = f[(f["window_start"] < "2026-06-15") | (f["window_start"] >= "2026-06-16")]
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)
    for name in WINDOW_SCHEMA.names:
        if name not in out:
            out[name] = np.nan
    out["hour_of_week"] = (out["window_start"].dt.dayofweek * 24
                           + out["window_start"].dt.hour).astype("int32")
    # b-4's meter sent UTC fields for its readings of two windows (zone elsewhere).
    out["local_time_mismatches"] = 0
    off = (out["building_id"] == "b-4") & out["window_start"].isin(
        pd.to_datetime(["2026-06-12 10:00", "2026-06-12 10:05"]))
    out.loc[off, "local_time_mismatches"] = 5
    return out


def alerts() -> pd.DataFrame:
    rows = [("b-2", "STUCK_METER", 90.0, "2026-06-05 03:00"),
            ("b-3", "METER_GAP", 1800.0, "2026-06-10 11:00"),
            ("b-6", "PEAK_AT_RISK", 190.0, "2026-06-10 14:10"),
            ("b-7", "ABNORMAL_USAGE", 9.0, "2026-06-09 20:00"),
            ("b-1", "HIGH_CONSUMPTION", 151.0, "2026-05-01 12:00"),  # before the period
            # b-5: an episode of three windows in a row, then one more alone.
            ("b-5", "HIGH_CONSUMPTION", 152.0, "2026-06-11 12:01"),
            ("b-5", "HIGH_CONSUMPTION", 171.0, "2026-06-11 12:06"),
            ("b-5", "HIGH_CONSUMPTION", 160.0, "2026-06-11 12:11"),
            ("b-5", "HIGH_CONSUMPTION", 155.0, "2026-06-11 13:01")]
    a = pd.DataFrame(rows, columns=["building_id", "type", "value", "event_time"])
    a["event_time"] = pd.to_datetime(a["event_time"])
    a["window_start"] = a["event_time"].dt.floor("5min")
    a["window_end"] = a["window_start"] + pd.Timedelta(minutes=5)
    a["raised_at"] = a["event_time"]
    a["alert_id"] = [f"id-{i}" for i in range(len(a))]
    a["threshold"] = 1.0
    a["lead_minutes"] = np.nan
    a["extra_charge"] = np.nan
    a["date"] = a["window_start"].dt.date
    return a


def store(warehouse: Path) -> None:
    """The fleet's windows (one file per day) and alerts under `warehouse`."""
    w = windows()
    for day, rows in w.groupby(w["window_start"].dt.strftime("%Y-%m-%d")):
        folder = warehouse / "windows" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "part-000000000001.parquet").write_bytes(
            parquet_bytes(utc(rows[WINDOW_SCHEMA.names]), WINDOW_SCHEMA))
    folder = warehouse / "alerts" / "batch_id=1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-0.parquet").write_bytes(parquet_bytes(utc(alerts()), ALERT_SCHEMA))


def metadata(path: Path) -> Path:
    pd.DataFrame({"building_id": BUILDINGS, "type": "office", "floor_area_m2": 2000.0}
                 ).to_csv(path, index=False)
    return path


def config(path: Path, storage: str, buildings: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "storage": {"uri": storage, "checkpoint_uri": storage + "-checkpoints"},
        "tariff": TARIFF, "report": {"buildings_file": str(buildings), "building_pages": 3},
        "job": {"shuffle_partitions": 2},
        # US holidays for all but b-0, whose campus closes on 2026-06-05.
        "calendar": {"default_holidays": "US", "holidays": {"b-0": ""},
                     "closures": {"b-0": "2026-06-05"}}}))
    return path


def run_report(config_file: Path, *args: str, timeout: float = 300
               ) -> subprocess.CompletedProcess:
    """`wattstream report` through the job image's entry file, as the chart's CronJob runs it
    (there under spark-submit)."""
    env = {**os.environ, "WATTSTREAM_CONFIG": str(config_file)}
    return subprocess.run([sys.executable, str(ROOT / "images" / "job" / "job_main.py"),
                           "report", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def expected(warehouse: Path) -> pd.DataFrame:
    """Per building, from the Parquet files: energy, energy cost at the time-of-use prices,
    the 15-minute peak, the prorated demand and fixed charges (21 of June's 30 days), CO2e,
    and the alerts of the period."""
    w = pq.read_table(warehouse / "windows").to_pandas()
    t = pd.to_datetime(w["window_start"]).dt.tz_convert(None)
    on_peak = (t.dt.dayofweek < 5) & (t.dt.hour >= 12) & (t.dt.hour < 18)
    w["cost"] = w["energy_kwh"] * np.where(on_peak, 0.30, 0.10)
    w["iv"] = t.dt.floor("15min")
    peak = w.groupby(["building_id", "iv"])["energy_kwh"].sum().groupby(
        "building_id").max() / 0.25
    out = w.groupby("building_id").agg(energy_kwh=("energy_kwh", "sum"),
                                       energy_cost=("cost", "sum"))
    out["peak_kw"] = peak
    coverage = DAYS / 30
    out["demand_charge"] = out["peak_kw"] * 15.0 * coverage
    out["total_cost"] = out["energy_cost"] + out["demand_charge"] + 100.0 * coverage
    out["co2_kg"] = out["energy_kwh"] * 0.4
    a = pq.read_table(warehouse / "alerts").to_pandas()
    a = a[pd.to_datetime(a["event_time"]).dt.tz_convert(None) >= START]
    out["alerts"] = a.groupby("building_id").size().reindex(out.index).fillna(0)
    return out


class Figures(HTMLParser):
    """data-value of every cell per building row (`rows[building][column]`) and of the
    cards by id, from the report's HTML."""

    def __init__(self, text: str):
        super().__init__()
        self.rows: dict[str, dict[str, list[float]]] = {}
        self.cards: dict[str, float] = {}
        self.tables: list[str] = []
        self._row: list | None = None
        self._table: str | None = None
        self._building: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id", "")
            self.tables.append(self._table)
        elif tag == "tr" and "data-building" in a:
            self._building, self._row = a["data-building"], []
        elif tag == "td" and self._row is not None:
            self._row.append(float(a["data-value"]) if "data-value" in a else None)
        elif tag == "div" and "card" in a.get("class", "") and a.get("id"):
            self.cards[a["id"]] = float(a["data-value"])

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.setdefault(self._table, {})[self._building] = self._row
            self._row = None
