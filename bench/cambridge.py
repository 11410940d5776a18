"""Baselines and peak warnings on real meters: the Cambridge University Estates 2019 archive
(hourly electricity of up to 101 buildings, Bedford weather), replayed as a meter export with
the weather on its own topic.

    .venv/bin/python bench/cambridge.py --source ../shared/data/cambridge_estates_2019
    .venv/bin/python bench/cambridge.py            # the slice shipped with wattstream

Starts its own broker on free ports in a temporary folder, then:

  1. `wattstream generate convert --dataset cambridge --weather-output` (readings without
     weather, zeros dropped as missing at source) and `generate replay --weather-input
     --speedup 0` into Kafka;
  2. the job (Trigger.AvailableNow) with hourly windows (the meters' interval), the weather
     joined by site (`weather.default_site: bedford`) and hourly billing intervals;
  3. `wattstream baseline` with `--holdout-days` held back: ASHRAE Guideline 14 per building;
  4. PEAK_AT_RISK against the new monthly peaks the windows show;
  5. `wattstream report` over the last 30 days of the replay, with the archive's floor areas
     (`generate buildings --dataset cambridge`): its time, totals and recommendations.

Prints the figures and writes bench/results/cambridge.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from detection import child_env, run_job  # noqa: E402

from wattstream.config import Config, to_dict  # noqa: E402
from wattstream.local import kafka  # noqa: E402
from wattstream.local.procs import free_port  # noqa: E402


def ws(config_file: Path, *args: str) -> dict:
    res = subprocess.run([sys.executable, "-m", "wattstream", "--config", str(config_file),
                          "--log-level", "WARNING", "generate", *args, "--no-progress"],
                         capture_output=True, text=True, env=child_env())
    if res.returncode != 0:
        raise RuntimeError(f"generate {args[0]} failed: {res.stderr[-2000:]}")
    lines = res.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", help="the cambridge_estates_2019 folder (default: the slice "
                                     "shipped with wattstream)")
    ap.add_argument("--buildings", type=int, help="only the first N buildings")
    ap.add_argument("--holdout-days", type=int, default=28)
    ap.add_argument("--end", help="replay only readings before this time (ISO 8601), e.g. "
                                  "2019-12-01T00:00:00Z to keep the Christmas closure out of the "
                                  "held-back days")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "cambridge.json"))
    ap.add_argument("--report-output", help="also keep the report's HTML here")
    args = ap.parse_args()

    import pandas as pd

    from wattstream import spark as session
    from wattstream.analytics import commands
    from wattstream.baseline import fit as baseline
    from wattstream.generator.commands import CAMBRIDGE_SLICE

    source = args.source or str(CAMBRIDGE_SLICE)
    work = Path(tempfile.mkdtemp(prefix="wattstream-cambridge-"))
    base = Config().replace(local={"run_dir": str(work / "stack"), "kafka_port": free_port(),
                                   "kafka_controller_port": free_port()})
    results = {"machine": common.machine(), "when": datetime.now(UTC).isoformat(
        timespec="seconds"), "load_average_start": os.getloadavg(), "source": source,
        "holdout_days": args.holdout_days, "end": args.end}
    broker = kafka.start(base, work / "stack")
    spark = None
    try:
        cfg = base.replace(
            kafka={"bootstrap_servers": kafka.bootstrap(base), "readings_topic": "ucam",
                   "alerts_topic": "ucam.alerts", "dead_letter_topic": "ucam.dlq",
                   "weather_topic": "ucam.weather"},
            storage={"uri": (work / "warehouse").as_uri(),
                     "checkpoint_uri": (work / "checkpoints").as_uri()},
            # Hourly meters: hourly windows and billing intervals; an hour's reading may come
            # an hour after the next one's.
            windows={"length_seconds": 3600, "watermark_seconds": 3600},
            tariff={"demand_interval_minutes": 60},
            weather={"default_site": "bedford", "max_staleness_seconds": 7200},
            # A replayed year pages no one: its alerts are stored, not sent (the window
            # thresholds are per 5 minutes anyway).
            alerts={"quiet_before": "2100-01-01T00:00:00Z",
                    # An hourly meter is silent between readings: a gap is two missed hours.
                    "gap_seconds": 3 * 3600},
            baseline={"holdout_days": args.holdout_days},
            metrics={"job_port": free_port(), "generator_port": 0})
        kafka.create_topics(cfg, cfg.kafka.bootstrap_servers)
        config_file = work / "wattstream.yaml"
        config_file.write_text(yaml.safe_dump(to_dict(cfg)))
        readings, weather = work / "ucam.parquet", work / "weather.csv"
        t = time.perf_counter()
        conv = ["convert", "--dataset", "cambridge", "--source", source, "--output",
                str(readings), "--weather-output", str(weather)]
        if args.buildings:
            conv += ["--buildings", str(args.buildings)]
        if args.end:
            conv += ["--end", args.end]
        ws(config_file, *conv)
        sent = ws(config_file, "replay", "--input", str(readings), "--weather-input",
                  str(weather), "--speedup", "0")
        results["replay"] = {"readings": sent.get("acknowledged"),
                             "weather": sent.get("weather"),
                             "seconds": round(time.perf_counter() - t, 1)}
        spark = session.build(cfg, app_name="wattstream-bench-cambridge", ui=False)
        results.update(run_job(spark, cfg))
        t = time.perf_counter()
        table = baseline.build(spark, cfg)
        results["baseline_seconds"] = round(time.perf_counter() - t, 1)
        print(baseline.summary(table, cfg, shown=20), flush=True)
        scored = table.dropna(subset=["cv_rmse"])
        results["fit"] = {
            "buildings": len(table), "scored": len(scored), "pass": int(table["passes"].sum()),
            "pass_rate": float(table["passes"].mean()),
            "pass_rate_of_scored": float(scored["passes"].mean()) if len(scored) else None,
            "cv_rmse_median": float(scored["cv_rmse"].median()),
            "nmbe_median": float(scored["nmbe"].median()),
            "uses_temperature": int(table["uses_temperature"].sum()),
            "reasons": table.loc[~table["passes"], "reason"].str.split(";").str[0]
            .str.replace(r"\d+(\.\d+)?%", "…", regex=True).value_counts().to_dict()}
        windows = commands.stored(spark, cfg, "windows")
        energy = windows.select("building_id", "window_start", "energy_kwh").toPandas()
        with_t = windows.where("avg_temperature is not null").count()
        results["windows"] = {"count": windows.count(), "with_temperature": with_t}
        alerts = commands.stored_alerts(spark, cfg)
        span = (pd.to_datetime(energy["window_start"]).min(),
                pd.to_datetime(energy["window_start"]).max())
        results["peak_warnings"] = commands.peak_score(energy, alerts, cfg, span[0], span[1])
        spark.stop()
        spark = None
        results["report"] = report(config_file, source, work, args.report_output)
    finally:
        if spark is not None:
            spark.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return common.finish(results, args.out, table_of)


def report(config_file: Path, source: str, work: Path, keep: str | None) -> dict:
    """`wattstream report` as a user runs it, over what the replay stored."""
    meta, page, js = work / "buildings.csv", work / "report.html", work / "report.json"
    ws(config_file, "buildings", "--dataset", "cambridge", "--source", source, "--output",
       str(meta))
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "wattstream", "--config", str(config_file),
                          "--log-level", "WARNING", "report", "--buildings", str(meta),
                          "--output", str(page), "--json", str(js)],
                         capture_output=True, text=True, env=child_env())
    if res.returncode != 0:
        raise RuntimeError(f"report failed: {res.stderr[-2000:]}")
    seconds = time.perf_counter() - t
    if keep:
        shutil.copy(page, keep)
    r = json.loads(js.read_text())
    recs = r["recommendations"]
    by_rule: dict[str, int] = {}
    for x in recs:
        by_rule[x["rule"]] = by_rule.get(x["rule"], 0) + 1
    return {"seconds": round(seconds, 1), "since": r["since"], "until": r["until"],
            "buildings": r["buildings"], "page_mb": round(page.stat().st_size / 1e6, 2),
            "totals": r["totals"], "by_rule": by_rule,
            "top": [{k: x[k] for k in ("building_id", "rule", "saving_cost", "evidence")}
                    for x in recs[:5]]}


def table_of(r: dict) -> str:
    from wattstream.analytics import score

    f, w = r["fit"], r["windows"]
    return "\n".join([
        f"cambridge: {f['buildings']} buildings, {r['replay']['readings']:,} hourly readings "
        f"and {r['replay']['weather']:,} weather observations replayed, "
        f"{common.describe(r['machine'])}",
        f"  windows with the joined temperature: {w['with_temperature']:,} of {w['count']:,}",
        f"  Guideline 14 on the last {r['holdout_days']} days before "
        f"{r.get('end') or 'the end'}: {f['pass']} of {f['buildings']} "
        f"pass ({f['pass_rate']:.0%}; {f['pass_rate_of_scored'] or 0:.0%} of the {f['scored']} "
        f"with enough history); CV(RMSE) median {f['cv_rmse_median']:.1%}, NMBE median "
        f"{f['nmbe_median']:+.2%}",
        f"  not passing: {f['reasons']}",
        "  " + score.peak_table(r["peak_warnings"]),
        *_report_lines(r.get("report"))])


def _report_lines(rep: dict | None) -> list[str]:
    if not rep:
        return []
    t = rep["totals"]
    return [f"  report of {rep['since'][:10]} to {rep['until'][:10]} ({rep['buildings']} "
            f"buildings): {rep['seconds']} s, {rep['page_mb']} MB; {t['energy_kwh']:,.0f} kWh, "
            f"{t['total_cost']:,.0f} USD, {t['co2_kg'] / 1000:,.1f} t CO2e; recommendations "
            f"{rep['by_rule']} worth {t['saving_cost']:,.0f} USD a year"]


if __name__ == "__main__":
    sys.exit(main())
