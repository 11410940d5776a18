"""The baseline fit: one TOWT model per building (`towt`) over the stored windows, with Spark,
scored on held-back days (ASHRAE Guideline 14) and stored as the next model version
(`models`); and what `wattstream baseline` prints of it.

    wattstream baseline       # <storage.uri>/windows → <baseline.uri>/v000003.parquet
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from .. import layout
from ..config import BaselineConfig, Config
from ..errors import WattstreamError
from ..files import Files
from ..localtime import naive_utc
from . import towt
from .models import FIT_SCHEMA, MODEL_COLUMNS, TOO_LITTLE, model_file, parquet, status, versions


def fit_building(windows: pd.DataFrame, holdout_start: pd.Timestamp,
                 bc: BaselineConfig) -> dict:
    """One building's model from its closed windows (`window_start`, `hour_of_week`,
    `avg_temperature`, `energy_kwh`): fitted on the days before `holdout_start`, scored on the
    days from it (hourly sums, Guideline 14), then refitted on all days for use."""
    w = windows.sort_values("window_start")
    starts = naive_utc(w["window_start"])
    train = (starts < holdout_start).to_numpy()
    how = w["hour_of_week"].to_numpy(dtype="int64")
    t = w["avg_temperature"].to_numpy(dtype="float64")
    y = w["energy_kwh"].to_numpy(dtype="float64")
    days = int(starts[train].dt.normalize().nunique())
    epoch_d = (starts.astype("int64") // 10**9).to_numpy() / 86_400

    def weights(rows: np.ndarray) -> np.ndarray | None:  # of `rows`, aged from their newest
        return towt.recency_weights(epoch_d[rows].max() - epoch_d[rows],
                                    bc.recency_half_life_days) if rows.any() else None

    out = {"building_id": str(w["building_id"].iloc[0]), "train_windows": int(train.sum()),
           "train_days": days, "holdout_hours": 0, "cv_rmse": None, "nmbe": None,
           "sigma": None}
    every = np.ones(len(w), dtype=bool)
    if days < bc.min_train_days or train.all():
        model = towt.fit(how, t, y, bc.occupied_share, weights(every))
        reason = (f"{TOO_LITTLE}: {days} days before the held-back ones, needs "
                  f"{bc.min_train_days}" if days < bc.min_train_days
                  else "no held-back days to score the model on")
        return {**out, **_arrays(model), "passes": False, "reason": reason}
    first = towt.fit(how[train], t[train], y[train], bc.occupied_share, weights(train))
    hold = ~train
    predicted = first.predict(how[hold], t[hold])
    scored = ~np.isnan(predicted)
    hourly = pd.DataFrame({"hour": starts[hold].dt.floor("h").to_numpy()[scored],
                           "y": y[hold][scored], "p": predicted[scored]}).groupby("hour").sum()
    cv, nmbe = towt.g14(hourly["y"].to_numpy(), hourly["p"].to_numpy())
    model = towt.fit(how, t, y, bc.occupied_share, weights(every))
    sigma = residual_spread(model, how, t, y, (y[hold] - predicted)[scored])
    fails = []
    if not np.isfinite(cv) or cv > bc.max_cv_rmse:
        fails.append(f"CV(RMSE) {cv:.1%} > {bc.max_cv_rmse:.0%}")
    if not np.isfinite(nmbe) or abs(nmbe) > bc.max_abs_nmbe:
        fails.append(f"NMBE {nmbe:+.1%} outside ±{bc.max_abs_nmbe:.0%}")
    return {**out, **_arrays(model), "holdout_hours": len(hourly),
            "cv_rmse": cv if np.isfinite(cv) else None,
            "nmbe": nmbe if np.isfinite(nmbe) else None,
            "sigma": sigma.tolist(),
            "passes": not fails, "reason": "; ".join(fails)}


SHRINK_WINDOWS = 12  # an hour's windows: the weight of the building's overall spread


def residual_spread(model: towt.Model, how: np.ndarray, t: np.ndarray, y: np.ndarray,
                    held_back: np.ndarray) -> np.ndarray:
    """The residual standard deviation of each hour of the week and day off [towt.HOURS]: a
    building's windows scatter more while it opens and closes than at night, so one spread
    for all hours would flag every ramp. Per hour from the model's residuals, pulled toward
    the building's overall spread (`SHRINK_WINDOWS`), and scaled up when the held-back days
    scatter more than the training ones (never down)."""
    resid = y - model.predict(how, t)
    ok = ~np.isnan(resid)
    r, h = resid[ok], how[ok]
    overall = np.var(r) if len(r) > 1 else np.nan
    n = np.bincount(h, minlength=towt.HOURS)
    mean = np.bincount(h, weights=r, minlength=towt.HOURS) / np.maximum(n, 1)
    sq = np.bincount(h, weights=(r - mean[h]) ** 2, minlength=towt.HOURS)
    var = (sq + SHRINK_WINDOWS * overall) / (np.maximum(n - 1, 0) + SHRINK_WINDOWS)
    held = held_back[~np.isnan(held_back)]
    scale = max(1.0, float(np.sqrt(np.mean(held ** 2) / overall))) if len(held) and overall \
        else 1.0
    return np.sqrt(var) * scale


def _arrays(m: towt.Model) -> dict:
    return {"uses_temperature": bool(m.uses_temperature), "occupied": m.occupied.tolist(),
            "coef_tow": m.coef_tow.tolist(), "coef_temp": m.coef_temp.ravel().tolist(),
            "coef_tow_only": m.coef_tow_only.tolist()}


def build(spark: SparkSession, cfg: Config) -> pd.DataFrame:
    """Fit every building's model over the stored windows and store them as the next version;
    returns the model table."""
    files = Files(spark)
    folder = layout.data(cfg, "windows")
    try:
        windows = spark.read.parquet(folder)
    except Exception as exc:  # noqa: BLE001 - AnalysisException: the folder holds nothing
        raise WattstreamError(f"no windows under {folder}: run `wattstream job` first so it "
                              "stores some") from exc
    span = windows.agg(F.min("window_start").alias("a"), F.max("window_end").alias("b")
                       ).collect()[0]
    if span["a"] is None:
        raise WattstreamError(f"no windows under {folder}")
    start, end = naive_utc(span["a"]), naive_utc(span["b"])
    windows = windows.select("building_id", "window_start", "hour_of_week", "avg_temperature",
                             "energy_kwh")
    # Whole days, at most holdout_days of them.
    holdout_start = (end - pd.Timedelta(days=cfg.baseline.holdout_days)).ceil("D")
    bc = cfg.baseline

    def fit(pdf: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame([fit_building(pdf, holdout_start, bc)])

    table = windows.groupBy("building_id").applyInPandas(fit, FIT_SCHEMA).toPandas()
    version = max(versions(files, cfg), default=0) + 1
    table.insert(0, "version", version)
    table.insert(1, "train_start", start)
    table.insert(2, "train_end", end)
    table.insert(3, "holdout_start", holdout_start)
    table = table.sort_values("building_id", ignore_index=True)[list(MODEL_COLUMNS)]
    files.write(model_file(cfg, version), parquet(table))
    return table


def summary(table: pd.DataFrame, cfg: Config, shown: int = 10) -> str:
    """What `wattstream baseline` prints: the version, the pass rate, the fit statistics and
    the buildings left without ABNORMAL_USAGE, with why."""
    bc = cfg.baseline
    v = int(table["version"].iloc[0])
    passing = int(table["passes"].sum())
    scored = table.dropna(subset=["cv_rmse"])
    first = table.iloc[0]
    since, until = (f"{first[c]:%Y-%m-%d %H:%M}" for c in ("train_start", "train_end"))
    lines = [
        f"baseline v{v}: {len(table)} buildings, windows from {since} to {until} UTC, held "
        f"back from {first['holdout_start']:%Y-%m-%d}",
        f"  ASHRAE Guideline 14 (hourly CV(RMSE) <= {bc.max_cv_rmse:.0%}, NMBE within "
        f"±{bc.max_abs_nmbe:.0%}): {passing} of {len(table)} pass "
        f"({passing / len(table):.0%})"]
    if len(scored):
        lines.append(f"  CV(RMSE) median {scored['cv_rmse'].median():.1%}, p90 "
                     f"{scored['cv_rmse'].quantile(0.9):.1%}; NMBE median "
                     f"{scored['nmbe'].median():+.2%}")
    failing = table[~table["passes"]]
    for r in failing.head(shown).itertuples():
        lines.append(f"  no ABNORMAL_USAGE for {r.building_id}: {r.reason}")
    if len(failing) > shown:
        lines.append(f"  … and {len(failing) - shown} more (see the model table)")
    lines.append(f"  stored at {model_file(cfg, v)}")
    return "\n".join(lines)


BUILDING_FIELDS = ("building_id", "status", "cv_rmse", "nmbe", "train_start", "train_end",
                   "train_days", "holdout_hours", "reason")


def buildings(table: pd.DataFrame, wanted: list[str] | None = None) -> list[dict]:
    """One record per building of a model table (`BUILDING_FIELDS`; ISO times, None where
    not scored), of the `wanted` buildings only if given (an unknown one is an error)."""
    if wanted:
        missing = sorted(set(wanted) - set(table["building_id"]))
        if missing:
            raise WattstreamError(f"--building: not in baseline v{int(table['version'].iloc[0])}"
                                  f": {', '.join(missing)}")
        table = table[table["building_id"].isin(wanted)]
    out = []
    for r in table.to_dict("records"):
        rec = {k: r.get(k) for k in BUILDING_FIELDS if k != "status"}
        rec["status"] = status(bool(r["passes"]), r["reason"])
        for k in ("train_start", "train_end"):
            rec[k] = pd.Timestamp(rec[k]).strftime("%Y-%m-%dT%H:%M:%SZ")
        for k in ("cv_rmse", "nmbe"):
            rec[k] = None if rec[k] is None or not np.isfinite(rec[k]) else float(rec[k])
        for k in ("train_days", "holdout_hours"):
            rec[k] = int(rec[k])
        out.append({k: rec[k] for k in BUILDING_FIELDS})
    return out


def building_table(records: list[dict]) -> str:
    """`buildings` as an aligned text table, one line per building."""
    def pct(x, sign=""):
        return "—" if x is None else f"{x:{sign}.1%}"

    head = ("building", "status", "CV(RMSE)", "NMBE", "trained on", "days", "scored h",
            "why not")
    rows = [(r["building_id"], r["status"], pct(r["cv_rmse"]), pct(r["nmbe"], "+"),
             f"{r['train_start'][:10]} … {r['train_end'][:10]}", str(r["train_days"]),
             str(r["holdout_hours"]), r["reason"] or "") for r in records]
    width = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    right = {2, 3, 5, 6}

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, width, strict=True))).rstrip()

    return "\n".join([line(head), *(line(r) for r in rows)])


