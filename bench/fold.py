"""The driver's fold at fleet scale: `Engine.candidates` + `Engine.apply` for one micro-batch
of partial sums, against a state of one open window per building.

    .venv/bin/python bench/fold.py                          # 1 M buildings, 200 000-window batches
    .venv/bin/python bench/fold.py --buildings 100000 --batch 50000
    .venv/bin/python bench/fold.py --against 392817b        # and the engine at that commit

The partials are synthetic (every aggregate present, no threshold crossed, no reading to
search), so the figure is the fold alone: aligning the batch to the open windows, merging the
sums, finishing the touched windows, replacing them in the state. `--against REV` runs the
same batches through the `src/` of that commit (read from git into a temporary folder), in
the same process, interleaved round by round. Prints a table and writes
bench/results/fold.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine  # noqa: E402

T0 = 1_767_225_600  # 2026-01-01T00:00Z, a window start


def engine_module(src: Path):
    """`wattstream.job.engine` and its package, imported from `src` (a fresh import)."""
    for name in [m for m in sys.modules if m == "wattstream" or m.startswith("wattstream.")]:
        del sys.modules[name]
    sys.path.insert(0, str(src))
    try:
        return (importlib.import_module("wattstream.job.engine"),
                importlib.import_module("wattstream.job.aggregates"),
                importlib.import_module("wattstream.config"))
    finally:
        sys.path.remove(str(src))


def run(src: Path, buildings: int, batch: int, rounds: int, seed: int) -> list[float]:
    import numpy as np
    import pandas as pd

    engine, aggregates, config = engine_module(src)
    rng = np.random.default_rng(seed)
    ids = np.array([f"bench-r0-b{i:07d}" for i in range(buildings)], dtype=object)

    def partials(which: np.ndarray) -> pd.DataFrame:
        d = {"building_id": which, "ws": np.full(len(which), T0, dtype="int64")}
        for p in aggregates.PARTIALS:
            d[p.name] = (np.ones(len(which)) if p.op == "count" else rng.random(len(which)))
        d["first_us"] = np.full(len(which), T0 * 1e6)
        d["last_us"] = d["first_us"] + 1e6
        return aggregates.typed(pd.DataFrame(d))

    e = engine.Engine(config.load_config(None))
    none = pd.DataFrame(columns=list(engine.READING_COLUMNS))
    now = pd.Timestamp.now()
    e.apply(partials(ids), T0 * 1_000_000 + 1, none, now)  # one open window per building
    out = []
    for _ in range(rounds):
        part = partials(ids[rng.choice(buildings, batch, replace=False)])
        t = time.perf_counter()
        e.candidates(part)
        e.apply(part, T0 * 1_000_000 + 2, none, now)
        out.append(time.perf_counter() - t)
    assert len(e.windows) == buildings
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--buildings", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=200_000, help="windows per micro-batch")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--against", help="also time the engine of this commit")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "fold.json"))
    args = ap.parse_args()
    trees = {"tree": ROOT / "src"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short",
                                  args.against], check=True, capture_output=True,
                                 text=True).stdout.strip()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"],
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            trees[rev] = Path(tmp) / "src"
        load_start = os.getloadavg()
        runs: dict[str, list[float]] = {name: [] for name in trees}
        for r in range(args.rounds):  # interleaved: the machine's noise falls on both
            for name, src in trees.items():
                runs[name] += run(src, args.buildings, args.batch, 1, seed=r)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    result = {"machine": machine(), "commit": head, "buildings": args.buildings,
              "batch_windows": args.batch, "rounds": args.rounds,
              "load_average_start": load_start, "load_average_end": os.getloadavg(),
              "seconds": {name: {"best": min(v), "median": sorted(v)[len(v) // 2], "runs": v}
                          for name, v in runs.items()}}
    print(f"fold of a {args.batch:,}-window batch into {args.buildings:,} open windows "
          f"(load {load_start[0]:.1f} → {os.getloadavg()[0]:.1f})")
    print("| engine | best s | median s |\n|---|---:|---:|")
    for name, v in result["seconds"].items():
        print(f"| {name} | {v['best']:.2f} | {v['median']:.2f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
