"""Baselines on real buildings: this project's model under each treatment of time, scored on
the same split, with Guideline 14.

    .venv/bin/python bench/baselines.py --source ../shared/data/cambridge_estates_2019
    .venv/bin/python bench/baselines.py            # the slice shipped with wattstream

The Cambridge University Estates 2019 archive (hourly electricity, Bedford weather) is fitted
by `baseline.fit.fit_building` — the function `wattstream baseline` runs per building — on all but
the last `--holdout-days` and scored there (hourly CV(RMSE) and NMBE, ASHRAE Guideline 14:
CV(RMSE) <= 30 %, |NMBE| <= 10 %). Zeros are missing at source and left out, as `generate
convert` does. The treatments:

  utc        hour of the week in UTC (the model before local time)
  local      hour of the week on the buildings' clock (Europe/London)
  holidays   local, and the English bank holidays as their own day type (GB-ENG)
  closure    holidays, and the University's Christmas closure as days off

Prints a table and writes bench/results/baselines.json. OpenEEmeter's models are not in this
bench yet.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from wattstream.baseline import fit as baseline  # noqa: E402
from wattstream.config import Config  # noqa: E402
from wattstream.localtime import Calendar  # noqa: E402

SHIPPED = ROOT / "src" / "wattstream" / "generator" / "data" / "cambridge_estates_2019"
CLOSURE = "2019-12-23..2019-12-31"  # the University's Christmas closure, around the holidays
TREATMENTS = {
    "utc": {"timezone": "UTC"},
    "local": {"timezone": "Europe/London"},
    "holidays": {"timezone": "Europe/London", "default_holidays": "GB-ENG"},
    "closure": {"timezone": "Europe/London", "default_holidays": "GB-ENG",
                "closures": {"*": CLOSURE}},
}


def read(source: Path, limit: int | None) -> tuple[dict[str, pd.DataFrame], pd.Series]:
    weather = pd.read_csv(source / "weather" / "bedford_2019.csv", parse_dates=["datetime"])
    temp = weather.set_index("datetime")["air_temperature [degC]"]
    files = sorted((source / "electricity_2019").glob("UCam_Building_*.csv"),
                   key=lambda p: int(p.stem.rsplit("b", 1)[-1]))[:limit]
    out = {}
    for f in files:
        with open(f, newline="") as fh:
            rows = [(r["datetime"], r["equipment load [kWh]"]) for r in csv.DictReader(fh)]
        df = pd.DataFrame(rows, columns=["window_start", "energy_kwh"])
        df["window_start"] = pd.to_datetime(df["window_start"])
        df["energy_kwh"] = pd.to_numeric(df["energy_kwh"], errors="coerce")
        df = df[df["energy_kwh"] > 0]
        df["avg_temperature"] = temp.reindex(df["window_start"]).to_numpy()
        out["ucam-" + f.stem.rsplit("_", 1)[-1]] = df.reset_index(drop=True)
    return out, temp


def fit_all(buildings: dict[str, pd.DataFrame], treatment: dict, holdout_days: int) -> dict:
    cfg = Config().replace(calendar=treatment, baseline={"holdout_days": holdout_days})
    cal = Calendar(cfg)
    results = []
    started = time.perf_counter()
    for bid, df in buildings.items():
        s = df["window_start"].astype("int64").to_numpy() / 1e9
        w = df.assign(building_id=bid,
                      hour_of_week=cal.day_type_hour([bid] * len(df), s).astype("int64"))
        holdout = w["window_start"].max().normalize() - pd.Timedelta(days=holdout_days - 1)
        r = baseline.fit_building(w, holdout, cfg.baseline)
        results.append({"building_id": bid, "passes": bool(r["passes"]),
                        "cv_rmse": r["cv_rmse"], "nmbe": r["nmbe"],
                        "holdout_hours": r["holdout_hours"]})
    scored = [r for r in results if r["cv_rmse"] is not None]
    return {
        "buildings": len(results), "scored": len(scored),
        "pass": sum(r["passes"] for r in results),
        "median_cv_rmse": float(np.median([r["cv_rmse"] for r in scored])) if scored else None,
        "median_nmbe": float(np.median([r["nmbe"] for r in scored])) if scored else None,
        "seconds": round(time.perf_counter() - started, 1),
        "per_building": results,
    }


def table(res: dict) -> str:
    lines = [f"Cambridge Estates 2019 ({res['fleet']['buildings']} buildings), last "
             f"{res['holdout_days']} days held back; {common.describe(res['machine'])}",
             "| treatment | G14 pass | median CV(RMSE) | median NMBE | fit s |",
             "|---|---:|---:|---:|---:|"]
    for name, r in res["treatments"].items():
        lines.append(f"| {name} | {r['pass']} / {r['buildings']} | {r['median_cv_rmse']:.1%} | "
                     f"{r['median_nmbe']:+.1%} | {r['seconds']} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=str(SHIPPED), help="the cambridge_estates_2019 folder")
    ap.add_argument("--buildings", type=int, default=None, help="the first N buildings")
    ap.add_argument("--holdout-days", type=int, default=21)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "baselines.json"))
    args = ap.parse_args()
    buildings, _ = read(Path(args.source), args.buildings)
    res = {"machine": common.machine(), "source": args.source,
           "holdout_days": args.holdout_days, "closure": CLOSURE,
           "fleet": {"buildings": len(buildings)}, "treatments": {}}
    for name, treatment in TREATMENTS.items():
        res["treatments"][name] = fit_all(buildings, treatment, args.holdout_days)
        r = res["treatments"][name]
        print(f"{name}: {r['pass']} / {r['buildings']} pass, median CV(RMSE) "
              f"{r['median_cv_rmse']:.1%}", flush=True)
    return common.finish(res, args.out, table)


if __name__ == "__main__":
    raise SystemExit(main())
