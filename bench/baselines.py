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

each with the default `baseline.recency_half_life_days`, and local and closure again with all
windows weighing the same (`*_equal_weights`, the model before recency weights).

`--references-from JSON` copies the reference rows of an earlier result of the same split
instead of fitting them again (they do not depend on this project's code); the output names
that file. With `--references`, OpenEEmeter's hourly model and CalTRACK 2.0 hourly (opendsm
1.2.7, at its defaults) are fitted on the same split and scored with the same Guideline 14 formulas
(`towt.g14` on the held-back hours), side by side. opendsm runs in an environment of the
bench's own (`.cache/bench-opendsm`, made on first use with pip; never a dependency of
wattstream), through `bench/reference_models.py`.

Prints a table and writes bench/results/baselines.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from wattstream.baseline import fit as baseline  # noqa: E402
from wattstream.baseline import towt  # noqa: E402
from wattstream.config import Config  # noqa: E402
from wattstream.localtime import Calendar, naive_utc  # noqa: E402

REFERENCE_VENV = ROOT / ".cache" / "bench-opendsm"
REFERENCE_PACKAGE = "opendsm==1.2.7"
# scikit-fda (an opendsm dependency) does not import with multimethod 2.x.
REFERENCE_PINS = ("multimethod<2",)
ZONE = "Europe/London"
SHIPPED = ROOT / "src" / "wattstream" / "generator" / "data" / "cambridge_estates_2019"
CLOSURE = "2019-12-23..2019-12-31"  # the University's Christmas closure, around the holidays
TREATMENTS = {
    "utc": {"timezone": "UTC"},
    "local": {"timezone": "Europe/London"},
    "holidays": {"timezone": "Europe/London", "default_holidays": "GB-ENG"},
    "closure": {"timezone": "Europe/London", "default_holidays": "GB-ENG",
                "closures": {"*": CLOSURE}},
}
EQUAL = {"recency_half_life_days": 0.0}
REFERENCE_MODELS = ("openeemeter_hourly", "caltrack_hourly")  # bench/reference_models.py
# (treatment, calendar, baseline overrides)
RUNS = [*((name, cal, {}) for name, cal in TREATMENTS.items()),
        ("local_equal_weights", TREATMENTS["local"], EQUAL),
        ("closure_equal_weights", TREATMENTS["closure"], EQUAL)]


# opendsm's own hourly electricity samples (in its package): meter file, temperature file, zone.
OPENDSM_SAMPLES = {
    "il-electricity-cdd-hdd-hourly": ("il-tempF.csv.gz", "America/Chicago"),
    "il-electricity-cdd-only-hourly": ("il-tempF.csv.gz", "America/Chicago"),
    "uk-electricity-hdd-only-hourly-sample-0": ("uk-tempC-sample-0.csv.gz", "Europe/London"),
    "uk-electricity-hdd-only-hourly-sample-1": ("uk-tempC-sample-1_2.csv.gz", "Europe/London"),
    "uk-electricity-hdd-only-hourly-sample-2": ("uk-tempC-sample-1_2.csv.gz", "Europe/London"),
}
# What each fleet is fitted under: (name, calendar, baseline overrides); {zones} is filled in.
# The generator's fleet: half in New York, half in Bavaria, each with its public holidays.
GENERATOR_CALENDAR = {"timezones": {"*[02468]": "America/New_York", "*[13579]": "Europe/Berlin"},
                      "holidays": {"*[02468]": "US-NY", "*[13579]": "DE-BY"}}
GENERATOR_START = "2026-08-03T00:00:00+00:00"  # to 2026-11-30: both DST ends, Thanksgiving
GENERATOR_DAYS = 119
FLEET_RUNS = {
    "generator": [("utc", {"timezone": "UTC"}, {}),
                  ("local", {"timezones": GENERATOR_CALENDAR["timezones"]}, {}),
                  ("holidays", GENERATOR_CALENDAR, {}),
                  ("holidays_equal_weights", GENERATOR_CALENDAR, EQUAL)],
    "opendsm": [("utc", {"timezone": "UTC"}, {}),
                ("local", {"timezones": "{zones}"}, {}),
                ("local_equal_weights", {"timezones": "{zones}"}, EQUAL)],
}


def _naive_utc(values) -> pd.Series:
    return naive_utc(pd.to_datetime(pd.Series(values), utc=True))


def read_generator(buildings: int) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The generator's building model (no anomalies), hourly from GENERATOR_START for
    GENERATOR_DAYS, in the zones and holidays of GENERATOR_CALENDAR: kWh and its °C."""
    from wattstream.generator.fleet import building_ids
    from wattstream.generator.model import Buildings, Model

    cal = Calendar(Config().replace(calendar=GENERATOR_CALENDAR))
    ids = building_ids("bench", buildings)
    model = Model(Buildings(ids, 42, None, cal), 42, "bench")
    start = pd.Timestamp(GENERATOR_START).timestamp()
    hours = GENERATOR_DAYS * 24
    energy, temp = np.empty((hours, len(ids))), np.empty((hours, len(ids)))
    for k in range(hours):
        v = model.step(start + k * 3600, 3600.0)
        energy[k], temp[k] = v.energy_kwh, v.temperature
    ts = pd.to_datetime(start + np.arange(hours) * 3600, unit="s")
    out = {bid: pd.DataFrame({"window_start": ts, "energy_kwh": energy[:, i],
                              "avg_temperature": temp[:, i]}) for i, bid in enumerate(ids)}
    return out, {bid: cal.name(bid) for bid in ids}


def read_opendsm(limit: int | None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """opendsm's hourly electricity samples, each up to its own `blackout_start_date` (what
    follows is its synthetic reporting period, savings built in): hourly kWh and °C."""
    reference_python()
    (samples,) = REFERENCE_VENV.glob("lib/python*/site-packages/opendsm/eemeter/samples")
    meta = json.loads((samples / "metadata.json").read_text())
    out, zones = {}, {}
    for name, (temp_file, zone) in list(OPENDSM_SAMPLES.items())[:limit]:
        meter = pd.read_csv(samples / f"{name}.csv.gz")
        temp = pd.read_csv(samples / temp_file)
        fahrenheit = "tempF" in temp.columns
        t = pd.Series((temp["tempF"] - 32) * 5 / 9 if fahrenheit else temp["tempC"]).to_numpy()
        temps = pd.Series(t, index=_naive_utc(temp["dt"])).groupby(level=0).mean()
        m = pd.DataFrame({"ts": _naive_utc(meter["start"]).dt.floor("h"),
                          "energy_kwh": pd.to_numeric(meter["value"], errors="coerce")})
        hourly = m.dropna().groupby("ts", as_index=False)["energy_kwh"].sum()
        end = pd.Timestamp(meta[name]["blackout_start_date"])
        hourly = hourly[hourly["ts"] < end].rename(columns={"ts": "window_start"})
        hourly["avg_temperature"] = temps.reindex(hourly["window_start"]).to_numpy()
        bid = "opendsm-" + name.removeprefix("il-electricity-").removeprefix("uk-electricity-")
        out[bid] = hourly.reset_index(drop=True)
        zones[bid] = zone
    return out, zones


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


def fit_all(buildings: dict[str, pd.DataFrame], treatment: dict, holdout_days: int,
            baseline_overrides: dict | None = None) -> dict:
    cfg = Config().replace(calendar=treatment, baseline={"holdout_days": holdout_days,
                                                         **(baseline_overrides or {})})
    cal = Calendar(cfg)
    results = []
    started = time.perf_counter()
    for bid, df in buildings.items():
        s = df["window_start"].astype("int64").to_numpy() / 1e9
        w = df.assign(building_id=bid,
                      hour_of_week=cal.day_type_hour([bid] * len(df), s).astype("int64"))
        holdout = _holdout_start(w, holdout_days)
        r = baseline.fit_building(w, holdout, cfg.baseline)
        results.append({"building_id": bid, "passes": bool(r["passes"]),
                        "cv_rmse": r["cv_rmse"], "nmbe": r["nmbe"],
                        "holdout_hours": r["holdout_hours"]})
    return summary(results, round(time.perf_counter() - started, 1))


def summary(results: list[dict], seconds: float) -> dict:
    """Pass count and medians of per-building results (`passes`, `cv_rmse`, `nmbe`)."""
    scored = [r for r in results if r["cv_rmse"] is not None]
    return {
        "buildings": len(results), "scored": len(scored),
        "pass": sum(r["passes"] for r in results),
        "median_cv_rmse": float(np.median([r["cv_rmse"] for r in scored])) if scored else None,
        "median_nmbe": float(np.median([r["nmbe"] for r in scored])) if scored else None,
        "seconds": seconds, "per_building": results,
    }


def _holdout_start(df: pd.DataFrame, holdout_days: int) -> pd.Timestamp:
    return df["window_start"].max().normalize() - pd.Timedelta(days=holdout_days - 1)


def reference_python() -> Path:
    """The bench's own environment with opendsm, made on first use."""
    py = REFERENCE_VENV / "bin" / "python"
    if not py.exists():
        print(f"making {REFERENCE_VENV} ({REFERENCE_PACKAGE}) …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", REFERENCE_PACKAGE,
                        *REFERENCE_PINS], check=True)
    return py


def fit_references(buildings: dict[str, pd.DataFrame], holdout_days: int,
                   zones: dict[str, str] | None = None) -> dict:
    """OpenEEmeter's and CalTRACK's hourly models on the split `fit_all` uses, scored alike."""
    bc = Config().baseline
    frames = []
    for bid, df in buildings.items():
        holdout = _holdout_start(df, holdout_days)
        hours = pd.date_range(df["window_start"].min(), df["window_start"].max(), freq="h")
        full = df.set_index("window_start").reindex(hours)
        frames.append(pd.DataFrame({
            "building_id": bid,
            "timestamp": hours.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "observed": full["energy_kwh"].to_numpy(),
            "temperature": full["avg_temperature"].to_numpy(),
            "part": np.where(hours >= holdout, "holdout", "train"),
            "zone": (zones or {}).get(bid, ZONE)}))
    py = reference_python()
    started = time.perf_counter()
    # One process per core, each a share of the buildings (opendsm fits one at a time).
    jobs = max(1, min(os.cpu_count() or 1, len(frames)))
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for k in range(jobs):
            src, dst = Path(tmp) / f"in-{k}.csv", Path(tmp) / f"out-{k}.csv"
            pd.concat(frames[k::jobs], ignore_index=True).to_csv(src, index=False)
            log = open(Path(tmp) / f"log-{k}.txt", "w")
            procs.append((subprocess.Popen(
                [str(py), str(Path(__file__).with_name("reference_models.py")), str(src),
                 str(dst)], stdout=log, stderr=subprocess.STDOUT), dst, log))
        parts = []
        for proc, dst, log in procs:
            if proc.wait() != 0:
                log.close()
                raise RuntimeError(f"reference_models.py failed:\n"
                                   f"{Path(log.name).read_text()[-3000:]}")
            log.close()
            parts.append(pd.read_csv(dst))
        pred = pd.concat(parts, ignore_index=True)
    seconds = round(time.perf_counter() - started, 1)
    out = {}
    for model, got in pred.groupby("model", sort=False):
        results = []
        for bid, df in buildings.items():
            mine = got[got["building_id"] == bid]
            errors = mine["error"].dropna()
            holdout = _holdout_start(df, holdout_days)
            y = df[df["window_start"] >= holdout].set_index("window_start")["energy_kwh"]
            p = pd.Series(mine["predicted"].to_numpy(dtype="float64"),
                          index=pd.DatetimeIndex(pd.to_datetime(
                              mine["timestamp"], errors="coerce", utc=True)).tz_convert(None))
            p = p[p.index.notna()].reindex(y.index)
            ok = np.isfinite(p.to_numpy())
            cv, nmbe = (towt.g14(y.to_numpy()[ok], p.to_numpy()[ok]) if ok.sum() > 1
                        else (float("nan"), float("nan")))
            fine = bool(np.isfinite(cv) and cv <= bc.max_cv_rmse and abs(nmbe) <= bc.max_abs_nmbe)
            results.append({"building_id": bid, "passes": fine,
                            "cv_rmse": float(cv) if np.isfinite(cv) else None,
                            "nmbe": float(nmbe) if np.isfinite(nmbe) else None,
                            "holdout_hours": int(ok.sum()),
                            "error": errors.iloc[0] if len(errors) else None})
        out[model] = summary(results, seconds)
    return out


def common_medians(treatments: dict) -> dict[str, float | None]:
    """Median CV(RMSE) of each treatment over the buildings every treatment scored (a model
    that fails to fit some buildings is compared on the same ones)."""
    scored = [{r["building_id"] for r in t["per_building"] if r["cv_rmse"] is not None}
              for t in treatments.values()]
    both = set.intersection(*scored) if scored else set()
    return {name: (float(np.median([r["cv_rmse"] for r in t["per_building"]
                                    if r["building_id"] in both])) if both else None)
            for name, t in treatments.items()}


def table(res: dict) -> str:
    lines = [f"{res.get('title', 'Cambridge Estates 2019')} ({res['fleet']['buildings']} "
             f"buildings), last "
             f"{res['holdout_days']} days held back; {common.describe(res['machine'])}",
             "| treatment | G14 pass | scored | median CV(RMSE) | on common | median NMBE "
             "| fit s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    shared = res.get("common_median_cv_rmse") or {}
    for name, r in res["treatments"].items():
        c = shared.get(name)
        lines.append(f"| {name} | {r['pass']} / {r['buildings']} | {r['scored']} | "
                     f"{r['median_cv_rmse']:.1%} | {'-' if c is None else f'{c:.1%}'} | "
                     f"{r['median_nmbe']:+.1%} | {r['seconds']} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fleet", choices=("cambridge", "opendsm", "generator"),
                    default="cambridge",
                    help="cambridge: the archive at --source; opendsm: its own hourly "
                    "electricity samples (from the bench's opendsm environment); generator: "
                    "the generator's building model (--buildings, default 20)")
    ap.add_argument("--source", default=str(SHIPPED), help="the cambridge_estates_2019 folder")
    ap.add_argument("--buildings", type=int, default=None, help="the first N buildings")
    ap.add_argument("--holdout-days", type=int, default=21)
    ap.add_argument("--references", action="store_true",
                    help="also fit OpenEEmeter's and CalTRACK's hourly models (opendsm)")
    ap.add_argument("--references-from", metavar="JSON",
                    help="copy the reference models' rows from an earlier result of this split")
    ap.add_argument("--out", help="default bench/results/baselines.json, "
                    "baselines-<fleet>.json for another fleet")
    args = ap.parse_args()
    results = ROOT / "bench" / "results"
    zones: dict[str, str] = {}
    if args.fleet == "cambridge":
        buildings, _ = read(Path(args.source), args.buildings)
        runs, source, title = RUNS, args.source, "Cambridge Estates 2019"
        out = args.out or str(results / "baselines.json")
    else:
        if args.fleet == "opendsm":
            buildings, zones = read_opendsm(args.buildings)
            source, title = f"{REFERENCE_PACKAGE} eemeter/samples", "opendsm hourly samples"
        else:
            buildings, zones = read_generator(args.buildings or 20)
            source = f"generator model, seed 42, {GENERATOR_START} + {GENERATOR_DAYS} days"
            title = "generator fleet (New York and Bavaria)"
        runs = [(n, {k: (zones if v == "{zones}" else v) for k, v in cal.items()}, o)
                for n, cal, o in FLEET_RUNS[args.fleet]]
        out = args.out or str(results / f"baselines-{args.fleet}.json")
    res = {"machine": common.machine(), "source": source, "holdout_days": args.holdout_days,
           "fleet": {"buildings": len(buildings)}, "title": title, "treatments": {}}
    if args.fleet == "cambridge":
        res["closure"] = CLOSURE
    else:
        res["zones"] = zones
    res["recency_half_life_days"] = Config().baseline.recency_half_life_days
    for name, treatment, overrides in runs:
        res["treatments"][name] = fit_all(buildings, treatment, args.holdout_days, overrides)
        r = res["treatments"][name]
        print(f"{name}: {r['pass']} / {r['buildings']} pass, median CV(RMSE) "
              f"{r['median_cv_rmse']:.1%}", flush=True)
    if args.references:
        res["references"] = REFERENCE_PACKAGE
        res["treatments"].update(fit_references(buildings, args.holdout_days, zones))
    elif args.references_from:
        old = json.loads(Path(args.references_from).read_text())
        if (old["holdout_days"], old["fleet"]) != (args.holdout_days, res["fleet"]):
            raise SystemExit(f"{args.references_from}: another split")
        res["references"] = old["references"]
        res["references_from"] = {"file": args.references_from, "machine": old["machine"]}
        res["treatments"].update({k: v for k, v in old["treatments"].items()
                                  if k in REFERENCE_MODELS})
    res["common_median_cv_rmse"] = common_medians(res["treatments"])
    return common.finish(res, out, table)


if __name__ == "__main__":
    raise SystemExit(main())
