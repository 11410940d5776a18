"""Detection against ground truth: a fleet backfilled through Kafka and the job, its baselines
fitted, then scored on clean weeks (false alarms) and on weeks with injected anomalies (F1).

    .venv/bin/python bench/detection.py                       # 200 buildings, 4+2+2 weeks
    .venv/bin/python bench/detection.py --buildings 50 --interval 300   # quicker look

Starts its own single-node broker on free ports in a temporary folder, then, with one Spark
session and the default config (windows of 5 minutes, `alerts.*` and `baseline.*` defaults):

  1. train      `wattstream generate backfill` of `--train-weeks` without anomalies → the job
                (Trigger.AvailableNow) → windows; `wattstream baseline` fits and scores every
                building's model (ASHRAE Guideline 14 on the last `baseline.holdout_days`);
  2. clean      `--clean-weeks` more without anomalies → the job scores them: every
                ABNORMAL_USAGE there is false (per building-month);
  3. anomalies  `--anomaly-weeks` with every anomaly kind at `--anomaly-rate` per building and
                day, labelled → the job → `wattstream score` against the labels.

Readings come every `--interval` seconds of event time per building (150 s: two per window;
the model and the rules see windows, not readings). Prints the tables and writes
bench/results/detection.json.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from wattstream.config import Config, to_dict  # noqa: E402
from wattstream.local import kafka  # noqa: E402
from wattstream.local.procs import free_port  # noqa: E402

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def child_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def backfill(config_file: Path, args, start: datetime, days: float, kinds: str,
             labels: Path | None, folder: Path) -> dict:
    summary = folder / f"backfill-{start:%Y%m%d}.json"
    cmd = [sys.executable, "-m", "wattstream", "--config", str(config_file), "--log-level",
           "WARNING", "generate", "backfill", "--buildings", str(args.buildings), "--interval",
           str(args.interval), "--seed", str(args.seed), "--anomalies", kinds,
           "--anomaly-rate", str(args.anomaly_rate), "--start",
           start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--duration", f"{int(days * 86400)}s",
           "--no-progress", "--summary", str(summary)]
    if labels is not None:
        cmd += ["--labels", str(labels)]
    t = time.perf_counter()
    gen = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
    if gen.returncode != 0:
        raise RuntimeError(f"backfill failed: {gen.stderr[-2000:]}")
    s = json.loads(summary.read_text())
    return {"readings": s["acknowledged"], "seconds": round(time.perf_counter() - t, 1),
            "anomalies": s["anomalies"]}


def run_job(spark, cfg: Config) -> dict:
    """The job on everything in the topic (Trigger.AvailableNow): seconds, and the readings
    it took and dropped as late."""
    from wattstream.job import main
    from wattstream.job.metrics import JobMetrics

    t = time.perf_counter()
    metrics = JobMetrics(cfg)
    for q in main.start_queries(spark, cfg, metrics, available_now=True):
        q.awaitTermination()
        if q.exception():
            raise RuntimeError(f"query {q.name} failed: {q.exception()}")
        q.batches.close()
    return {"job_seconds": round(time.perf_counter() - t, 1),
            "job_readings": int(metrics.readings._value.get()),
            "late": int(metrics.late._value.get())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--buildings", type=int, default=200)
    ap.add_argument("--train-weeks", type=float, default=4)
    ap.add_argument("--clean-weeks", type=float, default=2)
    ap.add_argument("--anomaly-weeks", type=float, default=2)
    ap.add_argument("--interval", type=float, default=150.0,
                    help="event-time seconds between a building's readings")
    ap.add_argument("--anomaly-rate", type=float, default=0.3,
                    help="anomalies started per building and day in the anomaly weeks")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--watermark", type=int, default=3600,
                    help="windows.watermark_seconds: in a backfill the topic's partitions "
                         "drift apart in event time within a micro-batch, and the job drops "
                         "what falls behind the watermark (counted as late)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work folder (windows, alerts, models, labels) and say where")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "detection.json"))
    args = ap.parse_args()


    from wattstream import spark as session
    from wattstream.analytics import commands, score
    from wattstream.baseline import fit as baseline

    work = Path(tempfile.mkdtemp(prefix="wattstream-detect-"))
    base = Config().replace(local={"run_dir": str(work / "stack"), "kafka_port": free_port(),
                                   "kafka_controller_port": free_port()})
    results = {"machine": common.machine(), "when": datetime.now(UTC).isoformat(
        timespec="seconds"), "load_average_start": os.getloadavg(), "args": vars(args)}
    broker = kafka.start(base, work / "stack")
    spark = None
    try:
        cfg = base.replace(
            kafka={"bootstrap_servers": kafka.bootstrap(base), "readings_topic": "detect",
                   "alerts_topic": "detect.alerts", "dead_letter_topic": "detect.dlq"},
            storage={"uri": (work / "warehouse").as_uri(),
                     "checkpoint_uri": (work / "checkpoints").as_uri()},
            generator={"labels_path": ""}, metrics={"job_port": free_port()},
            windows={"watermark_seconds": args.watermark})
        kafka.create_topics(cfg, cfg.kafka.bootstrap_servers)
        config_file = work / "wattstream.yaml"
        config_file.write_text(yaml.safe_dump(to_dict(cfg)))
        spark = session.build(cfg, app_name="wattstream-bench-detection", ui=False)
        labels_file = work / "labels.jsonl"
        train_end = T0 + timedelta(weeks=args.train_weeks)
        clean_end = train_end + timedelta(weeks=args.clean_weeks)
        anomaly_end = clean_end + timedelta(weeks=args.anomaly_weeks)

        steps = {}
        steps["train"] = backfill(config_file, args, T0, args.train_weeks * 7, "none", None,
                                  work)
        steps["train"].update(run_job(spark, cfg))
        t = time.perf_counter()
        table = baseline.build(spark, cfg)
        steps["baseline"] = {"seconds": round(time.perf_counter() - t, 1)}
        print(baseline.summary(table, cfg), flush=True)
        fit = {"buildings": len(table), "pass": int(table["passes"].sum()),
               "pass_rate": float(table["passes"].mean()),
               "cv_rmse_median": float(table["cv_rmse"].median()),
               "cv_rmse_p90": float(table["cv_rmse"].quantile(0.9)),
               "nmbe_median": float(table["nmbe"].median()),
               "uses_temperature": int(table["uses_temperature"].sum())}
        steps["clean"] = backfill(config_file, args, train_end, args.clean_weeks * 7, "none",
                                  None, work)
        steps["clean"].update(run_job(spark, cfg))
        steps["anomalies"] = backfill(config_file, args, clean_end, args.anomaly_weeks * 7,
                                      "all", labels_file, work)
        steps["anomalies"].update(run_job(spark, cfg))
        print(json.dumps(steps), flush=True)

        alerts = commands.stored_alerts(spark, cfg)
        energy = commands.stored(spark, cfg, "windows").select(
            "building_id", "window_start", "energy_kwh").toPandas()
        labels = score.read_labels(labels_file)
        # The last windows of a period stay open until the next period's readings close them.
        clean = score.score(alerts, labels.iloc[:0], buildings=args.buildings,
                            since=_naive(train_end), until=_naive(clean_end))
        detect = score.score(alerts, labels, buildings=args.buildings,
                             since=_naive(clean_end), until=_naive(anomaly_end))
        # New monthly peaks over the scored weeks (the months' history from the training).
        peaks = commands.peak_score(energy, alerts, cfg, _naive(train_end), _naive(anomaly_end))
        print(score.peak_table(peaks), flush=True)
        results.update({"steps": steps, "fit": fit, "clean": json.loads(clean.to_json()),
                        "anomalies": json.loads(detect.to_json()), "peak_warnings": peaks,
                        "readings": sum(s.get("readings", 0) for s in steps.values())})
        print("\nclean weeks\n" + score.table(clean), flush=True)
        print("\nweeks with anomalies\n" + score.table(detect), flush=True)
    finally:
        if spark is not None:
            spark.stop()
        broker.stop()
        if args.keep:
            print(f"work folder kept: {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return common.finish(results, args.out, summary_table)


def _naive(d: datetime):
    import pandas as pd

    return pd.Timestamp(d).tz_convert(None)


def peak_line(p: dict) -> str:
    from wattstream.analytics import score

    return score.peak_table(p)


def summary_table(r: dict) -> str:
    f, c, a = r["fit"], r["clean"]["overall"], r["anomalies"]["overall"]
    late = sum(s.get("late", 0) for s in r["steps"].values())
    lines = [f"detection: {r['args']['buildings']} buildings, {r['readings']:,} readings "
             f"({late:,} late with a {r['args']['watermark']} s watermark), "
             f"{common.describe(r['machine'])}",
             f"  Guideline 14 pass: {f['pass']} of {f['buildings']} ({f['pass_rate']:.0%}); "
             f"CV(RMSE) median {f['cv_rmse_median']:.1%}, p90 {f['cv_rmse_p90']:.1%}; "
             f"NMBE median {f['nmbe_median']:+.2%}",
             f"  clean weeks: false ABNORMAL_USAGE per building-month "
             f"{c['false_abnormal_per_building_month']:.3f} ({c['alerts']} detecting alerts)",
             f"  anomaly weeks: F1 {a['f1'] or 0:.2f} (precision {a['precision'] or 0:.0%}, "
             f"recall {a['recall'] or 0:.0%}, {a['labels']} labels)",
             "  " + peak_line(r["peak_warnings"])]
    for k in r["anomalies"]["kinds"]:
        lines.append(f"    {k['kind']:<16} → {k['alert_type']:<15} recall "
                     f"{(k['recall'] or 0):.0%} of {k['labels']:>4}, delay p50 "
                     f"{k['delay_median_min'] if k['delay_median_min'] is not None else '-'} min")
    for t in r["anomalies"]["types"]:
        if t["scored"]:
            lines.append(f"    {t['type']:<16} precision {(t['precision'] or 0):.0%} "
                         f"({t['correct']} correct, {t['other_kind']} other kind, {t['false']} "
                         f"false of {t['alerts']})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
