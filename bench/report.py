"""The energy report at fleet scale: `wattstream report` over a month of stored windows of 1 000
and 10 000 buildings, and what its rules find of the faults injected into a fifth of them.

    .venv/bin/python bench/report.py                          # 1 000 and 10 000 buildings
    .venv/bin/python bench/report.py --buildings 1000 --days 30

Per fleet size: the windows are written straight into the job's Parquet layout by the
generator's model and anomaly injector (bench/fleet_windows.py: a month of 10 000 buildings is
86 M windows, more than a backfill through the pipeline makes here; the pipeline path is
tests/analytics/test_rules_pipeline.py), four fifths clean and one fifth with every anomaly kind at
`--rate` per building and day, labelled. Then `wattstream report` runs as a user runs it (its
own Spark, local[2]): the wall time of the whole command, of its Spark read, and the page's
size; and `score.rules_against_labels` scores the recommendations against the labels.
Prints a table and writes bench/results/report.json.
"""

from __future__ import annotations

import argparse
import csv
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet_windows  # noqa: E402
from common import describe, finish, machine  # noqa: E402

from wattstream.analytics import score  # noqa: E402
from wattstream.generator.anomalies import KINDS  # noqa: E402

START = datetime(2026, 6, 1, tzinfo=UTC)


def one(n: int, days: int, rate: float, work: Path) -> dict:
    warehouse = work / f"fleet-{n}"
    shutil.rmtree(warehouse, ignore_errors=True)
    labels = warehouse / "labels.jsonl"
    faulty = max(1, n // 5)
    t0 = time.perf_counter()
    windows = fleet_windows.write(warehouse, "clean", n - faulty, START, days)
    windows += fleet_windows.write(warehouse, "faulty", faulty, START, days, kinds=KINDS,
                                   rate=rate, labels=labels)
    synth_s = time.perf_counter() - t0
    meta = warehouse / "buildings.csv"
    with open(meta, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["building_id", "type", "floor_area_m2"])
        w.writerows(fleet_windows.metadata("clean", n - faulty)
                    + fleet_windows.metadata("faulty", faulty))
    cfg = work / f"wattstream-{n}.yaml"
    cfg.write_text(yaml.safe_dump({
        "storage": {"uri": warehouse.as_uri(), "checkpoint_uri": (work / "ck").as_uri()},
        "report": {"buildings_file": str(meta), "days": days}}))
    out, js = warehouse / "report.html", warehouse / "report.json"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "wattstream", "--config", str(cfg), "report",
                           "--output", str(out), "--json", str(js)],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"report failed:\n{proc.stderr[-4000:]}")
    result = json.loads(js.read_text())
    import pandas as pd

    table = pd.DataFrame(result["recommendations"])
    found = score.rules_against_labels(table, score.read_labels(labels))
    by_rule = table.groupby("rule").size().to_dict() if len(table) else {}
    clean_flagged = table[(table["category"] != "data")
                          & table["building_id"].str.startswith("clean")]["building_id"]
    return {"buildings": n, "days": days, "windows": windows, "synthesize_seconds": synth_s,
            "report_seconds": wall, "report_internal_seconds": result["seconds"],
            "read_seconds": result["read_seconds"], "page_mb": out.stat().st_size / 1e6,
            "recommendations": len(table), "by_rule": by_rule,
            "clean_buildings_with_a_recommendation": int(clean_flagged.nunique()),
            "clean_buildings": n - faulty, "faults": found}


def table(r: dict) -> str:
    lines = [f"wattstream report on {describe(r['machine'])}",
             "", f"{'buildings':>10} {'windows':>12} {'report s':>9} {'of it Spark read s':>19} "
             f"{'page MB':>8} {'recommendations':>16}"]
    for x in r["runs"]:
        lines.append(f"{x['buildings']:>10,} {x['windows']:>12,} {x['report_seconds']:>9.1f} "
                     f"{x['read_seconds']:>19.1f} {x['page_mb']:>8.1f} "
                     f"{x['recommendations']:>16,}")
    for x in r["runs"]:
        lines += ["", f"{x['buildings']:,} buildings: injected faults and the rule that points "
                  "at them", f"{'kind':16} {'rule':14} {'labels':>7} {'found':>6} "
                  f"{'recall':>7} {'evidence precision':>19}"]
        for kind, f in x["faults"].items():
            lines.append(f"{kind:16} {f['rule']:14} {f['labels']:>7} {f['found']:>6} "
                         f"{(f['recall'] or 0):>7.0%} {(f['precision'] or 0):>19.0%}")
        lines.append(f"clean buildings with a (non data-quality) recommendation: "
                     f"{x['clean_buildings_with_a_recommendation']} of {x['clean_buildings']}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--buildings", type=int, nargs="*", default=[1000, 10_000])
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--rate", type=float, default=0.3, help="anomalies per faulty building-day")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "report.json"))
    args = p.parse_args()
    results = {"machine": machine(), "load_average_start": os.getloadavg(), "runs": []}
    with tempfile.TemporaryDirectory(prefix="wattstream-report-") as tmp:
        for n in args.buildings:
            print(f"fleet of {n:,} buildings × {args.days} days …", flush=True)
            results["runs"].append(one(n, args.days, args.rate, Path(tmp)))
    return finish(results, args.out, table)


if __name__ == "__main__":
    raise SystemExit(main())
