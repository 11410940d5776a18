"""Baseline model tables made by hand, for tests that need a model without weeks of history."""

from __future__ import annotations

import numpy as np
import pandas as pd


def flat_table(expected: dict[str, float], sigma: float = 1.0, passes: bool = True,
               version: int = 1) -> pd.DataFrame:
    """A model table (`models.MODEL_COLUMNS`) expecting a constant window energy per
    building, with residual spread `sigma`."""
    from wattstream.baseline import models, towt

    rows = []
    for b, kwh in expected.items():
        tow = np.full(towt.HOURS_OF_WEEK, kwh).tolist()
        rows.append({"version": version, "train_start": pd.Timestamp("2026-01-01"),
                     "train_end": pd.Timestamp("2026-02-01"),
                     "holdout_start": pd.Timestamp("2026-01-25"), "building_id": b,
                     "uses_temperature": False, "occupied": [False] * towt.HOURS_OF_WEEK,
                     "coef_tow": tow, "coef_temp": [0.0] * (2 * towt.SEGMENTS),
                     "coef_tow_only": tow, "sigma": [sigma] * towt.HOURS_OF_WEEK,
                     "train_windows": 2016, "train_days": 21, "holdout_hours": 168,
                     "cv_rmse": 0.1 if passes else 0.5, "nmbe": 0.0, "passes": passes,
                     "reason": "" if passes else "CV(RMSE) 50.0% > 30%"})
    return pd.DataFrame(rows, columns=list(models.MODEL_COLUMNS))


def write(uri_folder: str, table: pd.DataFrame) -> str:
    """The table as a model version file in a local folder (file:// URI or path)."""
    from pathlib import Path
    from urllib.parse import urlparse

    from wattstream.baseline import models

    folder = Path(urlparse(uri_folder).path if "://" in uri_folder else uri_folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"v{int(table['version'].iloc[0]):06d}.parquet"
    path.write_bytes(models.parquet(table))
    return str(path)
