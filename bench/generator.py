"""Generator throughput: readings/s in backfill mode for 1 and 2 replicas, and where time goes.

    .venv/bin/python bench/generator.py [--readings 300000] [--buildings 200]

Starts its own single-node broker (through `wattstream.local.kafka.start`) on free ports in a
temporary folder and stops it by pid at the end. Each replica is a separate
`wattstream generate backfill` process; a reading counts once Kafka acknowledged it (acks=all,
idempotent producer). The breakdown times the three stages in one process on their own: the
model (+ anomalies), JSON encoding, and kafka-python's send path through to acknowledgement.

Prints a table and writes bench/results/generator.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from wattstream.config import Config, to_dict  # noqa: E402
from wattstream.generator.anomalies import KINDS  # noqa: E402
from wattstream.generator.fleet import building_ids  # noqa: E402
from wattstream.generator.metrics import GeneratorMetrics  # noqa: E402
from wattstream.generator.producer import ReadingProducer  # noqa: E402
from wattstream.generator.simulate import Simulator  # noqa: E402
from wattstream.local import kafka  # noqa: E402
from wattstream.local.procs import free_port  # noqa: E402

START = "2026-07-01T00:00:00Z"


def run_replicas(cfg_file: Path, replicas: int, readings: int, buildings: int,
                 extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "wattstream", "--config", str(cfg_file), "--log-level",
           "WARNING", "generate", "backfill", "--count", str(readings), "--buildings",
           str(buildings), "--interval", "5", "--start", START, "--no-progress", *extra]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*cmd, "--replica-id", f"bench-{i}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(replicas)]
    summaries = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"generator failed: {err}")
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - t0
    acked = sum(s["acknowledged"] for s in summaries)
    return {
        "replicas": replicas,
        "readings": acked,
        "per_replica_per_s": [round(s["acknowledged"] / s["seconds"]) for s in summaries],
        "total_per_s": round(acked / wall),
        "wall_seconds": round(wall, 2),
    }


def breakdown(cfg: Config, readings: int, buildings: int) -> dict:
    """Each stage alone, in this process, per reading."""
    ids = building_ids("bench-x", buildings)
    start = datetime.fromisoformat(START)
    sim = Simulator(ids, 42, "bench-x", KINDS, 0.5)
    steps = max(1, readings // buildings)
    batches = []
    t0 = time.perf_counter()
    for k in range(steps):
        batches.append(sim.step(k, start + timedelta(seconds=5 * k), 5.0))
    t_model = time.perf_counter() - t0
    t0 = time.perf_counter()
    payloads = [sim.encoder.encode(b) for b in batches]
    t_encode = time.perf_counter() - t0
    n = sum(len(p) for p in payloads)
    producer = ReadingProducer(cfg, GeneratorMetrics("bench-x"))
    keys = [[sim.encoder.keys[i] for i in b.index] for b in batches]
    t0 = time.perf_counter()
    for k, v in zip(keys, payloads, strict=True):
        producer.send_many(k, v)
    producer.close()
    t_kafka = time.perf_counter() - t0
    assert producer.acked == n, (producer.acked, n)
    us = 1e6 / n
    return {
        "readings": n,
        "model_us_per_reading": round(t_model * us, 2),
        "encode_us_per_reading": round(t_encode * us, 2),
        "kafka_us_per_reading": round(t_kafka * us, 2),
        "model_only_per_s": round(n / t_model),
        "encode_only_per_s": round(n / t_encode),
        "kafka_only_per_s": round(n / t_kafka),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=300_000, help="readings per replica")
    ap.add_argument("--buildings", type=int, default=200, help="buildings per replica")
    ap.add_argument("--repeats", type=int, default=2,
                    help="runs per setting; the machine is shared, so the table shows the best "
                         "and the JSON keeps every run")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="wattstream-bench-") as tmp:
        run_dir = Path(tmp)
        base = Config().replace(local={"run_dir": str(run_dir), "kafka_port": free_port(),
                                       "kafka_controller_port": free_port()})
        svc = kafka.start(base, run_dir)
        try:
            results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                       "readings_per_replica": args.readings, "buildings": args.buildings,
                       "runs": []}
            variants = [("gzip, linger 20 ms, batch 256 KiB (default)", {}),
                        ("no compression, linger 20 ms, batch 256 KiB", {"compression": "none"})]
            for i, (label, gen) in enumerate(variants):
                cfg = base.replace(kafka={"bootstrap_servers": kafka.bootstrap(base),
                                          "readings_topic": f"bench{i}"},
                                   metrics={"generator_port": 0}, generator=gen)
                kafka.create_topics(cfg, cfg.kafka.bootstrap_servers)
                cfg_file = run_dir / f"bench{i}.yaml"
                cfg_file.write_text(yaml.safe_dump(to_dict(cfg)))
                for replicas in (1, 2):
                    for _ in range(args.repeats):
                        r = run_replicas(cfg_file, replicas, args.readings, args.buildings, [])
                        r["producer"] = label
                        r["load_average"] = [round(x, 2) for x in os.getloadavg()]
                        results["runs"].append(r)
                        print(f"  {label}: {replicas} replica(s) {r['per_replica_per_s']} /s",
                              flush=True)
            cfg = base.replace(kafka={"bootstrap_servers": kafka.bootstrap(base),
                                      "readings_topic": "bench-breakdown"},
                               metrics={"generator_port": 0})
            kafka.create_topics(cfg, cfg.kafka.bootstrap_servers)
            results["breakdown"] = breakdown(cfg, args.readings, args.buildings)
            results["load_average"] = [round(x, 2) for x in os.getloadavg()]
        finally:
            svc.stop()

    print()
    print(f"{'producer settings (best of runs)':46} {'replicas':>8} {'per replica /s':>20} "
          f"{'total /s':>10}")
    best: dict[tuple[str, int], dict] = {}
    for r in results["runs"]:
        key = (r["producer"], r["replicas"])
        if key not in best or r["total_per_s"] > best[key]["total_per_s"]:
            best[key] = r
    for (label, replicas), r in best.items():
        per = ", ".join(f"{x:,}" for x in r["per_replica_per_s"])
        print(f"{label:46} {replicas:>8} {per:>20} {r['total_per_s']:>10,}")
    b = results["breakdown"]
    print()
    print("where the time goes (one process, stages timed apart, per reading):")
    for name, key in (("model + anomalies", "model"), ("JSON encoding", "encode"),
                      ("kafka-python send", "kafka")):
        print(f"  {name:18} {b[key + '_us_per_reading']:7.2f} us  ({b[key + '_only_per_s']:,}/s)")
    print(f"  (load average while running: {results['load_average']}; target 50,000/s per "
          f"replica)")
    out = ROOT / "bench" / "results" / "generator.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
