"""The versioned baseline models as stored and loaded: the contract between the fit
(`baseline.fit`, `wattstream baseline`) and the streaming job, which scores every window
against the newest version and picks up a newer one without a restart.

Each version is one Parquet file, `<baseline.uri>/v<version:06d>.parquet`, renamed into place
whole; its rows are `MODEL_COLUMNS`, one per building, with the training period, the fit
statistics and whether the model passes ASHRAE Guideline 14 (and why not).
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import layout
from ..config import Config, resolve_uri
from ..files import Files
from . import towt

log = logging.getLogger(__name__)
VERSION = re.compile(r"^v(\d{6})\.parquet$")

# The columns one building's fit returns (`fit_building`).
FIT_SCHEMA = ("building_id string, uses_temperature boolean, occupied array<boolean>, "
              "coef_tow array<double>, coef_temp array<double>, coef_tow_only array<double>, "
              "sigma array<double>, train_windows long, "
              "train_days long, holdout_hours long, cv_rmse double, nmbe double, "
              "passes boolean, reason string")
MODEL_COLUMNS = ("version", "train_start", "train_end", "holdout_start",
                 *(c.split()[0] for c in FIT_SCHEMA.split(", ")))


# A building's model status, as `wattstream baseline` and the job's metrics give it.
STATUSES = ("passes", "fails_g14", "too_little_history")
TOO_LITTLE = "too little history"


def status(passes: bool, reason: str) -> str:
    return "passes" if passes else ("too_little_history" if str(reason).startswith(TOO_LITTLE)
                                    else "fails_g14")


def location(cfg: Config) -> str:
    return resolve_uri(cfg.baseline.uri) if cfg.baseline.uri else layout.data(cfg, "baseline")


def versions(files: Files, cfg: Config) -> list[int]:
    return sorted(int(m.group(1)) for n in files.list(location(cfg))
                  if (m := VERSION.match(n)))


def model_file(cfg: Config, version: int) -> str:
    return f"{location(cfg)}/v{version:06d}.parquet"


def parquet(table: pd.DataFrame) -> bytes:
    """A model table as the bytes of its version file."""
    out = table.copy()
    for c in ("train_start", "train_end", "holdout_start"):
        out[c] = pd.to_datetime(out[c]).dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), sink)
    return sink.getvalue()


@dataclass
class Models:
    """One version's models stacked for vectorised scoring (`towt.predict`)."""

    version: int
    table: pd.DataFrame  # MODEL_COLUMNS without the arrays
    index: dict[str, int]
    occupied: np.ndarray
    coef_tow: np.ndarray
    coef_temp: np.ndarray
    coef_tow_only: np.ndarray
    uses_temperature: np.ndarray
    sigma: np.ndarray  # [buildings, towt.HOURS]: residual spread per hour of week or day off
    passes: np.ndarray

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> Models:
        n = len(table)

        def stack(col: str, width: int, dtype=float) -> np.ndarray:
            if not n:
                return np.zeros((0, width), dtype=dtype)
            return np.array([np.asarray(v, dtype=dtype) for v in table[col]]).reshape(n, width)

        def hourly(col: str, dtype=float) -> np.ndarray:
            # A version of an earlier release has 168 hours: its days off are Sundays.
            if not n:
                return np.zeros((0, towt.HOURS), dtype=dtype)
            return np.array([towt.widen(np.full(towt.HOURS, np.nan) if v is None
                                        else np.asarray(v, dtype=dtype))
                             for v in table[col]]).reshape(n, towt.HOURS)

        return cls(
            version=int(table["version"].iloc[0]) if n else 0,
            table=table.drop(columns=["occupied", "coef_tow", "coef_temp", "coef_tow_only"]),
            index={b: i for i, b in enumerate(table["building_id"])},
            occupied=hourly("occupied", bool),
            coef_tow=hourly("coef_tow"),
            coef_temp=stack("coef_temp", 2 * towt.SEGMENTS).reshape(n, 2, towt.SEGMENTS),
            coef_tow_only=hourly("coef_tow_only"),
            uses_temperature=table["uses_temperature"].to_numpy(dtype=bool),
            sigma=hourly("sigma"),
            passes=table["passes"].to_numpy(dtype=bool))

    def expect(self, buildings: pd.Series, how: np.ndarray, temperature: np.ndarray,
               energy: np.ndarray) -> pd.DataFrame:
        """expected_kwh, residual_kwh, std_residual and whether the building's model passes
        Guideline 14, per window (NaN where the building has no model or the hour no data)."""
        row = buildings.map(self.index).to_numpy(dtype="float64", na_value=np.nan)
        known = ~np.isnan(row)
        r = np.where(known, row, 0).astype("int64")
        expected = np.full(len(row), np.nan)
        std = np.full(len(row), np.nan)
        if known.any() and len(self.index):
            expected = np.where(known, towt.predict(
                self.occupied, self.coef_tow, self.coef_temp, self.coef_tow_only,
                self.uses_temperature, r, how, temperature), np.nan)
            sigma = self.sigma[r, np.asarray(how, dtype="int64")]
            resid = energy - expected
            std = np.divide(resid, sigma, out=np.full(len(row), np.nan),
                            where=np.isfinite(sigma) & (sigma > 0))
        residual = energy - expected
        return pd.DataFrame({"expected_kwh": expected, "residual_kwh": residual,
                             "std_residual": np.where(known, std, np.nan),
                             "model_passes": known & self.passes[r] if len(self.index)
                             else np.zeros(len(row), bool)})


def read(files: Files, cfg: Config, version: int) -> Models:
    table = pq.read_table(io.BytesIO(files.read(model_file(cfg, version)))).to_pandas()
    return Models.from_table(table)


def latest(files: Files, cfg: Config, after: int = 0) -> Models | None:
    """The newest model version, if newer than `after`."""
    found = versions(files, cfg)
    if not found or found[-1] <= after:
        return None
    models = read(files, cfg, found[-1])
    passing = int(models.passes.sum())
    log.info("baseline v%d loaded from %s: %d buildings, %d pass ASHRAE Guideline 14",
             models.version, model_file(cfg, models.version), len(models.index), passing)
    for row in models.table[~models.table["passes"]].itertuples():
        log.info("baseline v%d: %s has no ABNORMAL_USAGE: %s", models.version, row.building_id,
                 row.reason)
    return models
