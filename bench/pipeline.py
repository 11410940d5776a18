"""End-to-end throughput and alert latency of the streaming job.

    .venv/bin/python bench/pipeline.py            # 100 and 10 000 buildings, full size
    .venv/bin/python bench/pipeline.py --quick    # smaller, a few minutes

For each fleet size, readings from the generator's simulator (a backfill) go to a dedicated
local Kafka broker; then the job's three queries (`job.main.start_queries`) run on them until
caught up (Trigger.AvailableNow), once from Kafka and once from the same readings as JSON-lines
files (the engine ceiling: same parsing, windows, alerts and live view; no Kafka). Rate =
readings / wall time from query start to the last query finishing. Alert latency is measured
with the job running continuously on a paced live feed from another process: Kafka timestamp
of the alert record minus the Kafka timestamp of the reading that crossed the threshold.

Prints a table and writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from wattstream.config import Config  # noqa: E402
from wattstream.generator.fleet import building_ids  # noqa: E402
from wattstream.generator.simulate import Simulator  # noqa: E402
from wattstream.job import main, session  # noqa: E402
from wattstream.job.metrics import JobMetrics  # noqa: E402
from wattstream.local import kafka  # noqa: E402
from wattstream.local.procs import free_port  # noqa: E402

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
DT = 5.0  # event-time seconds between a building's readings
WARM = "bench-warm-up"  # the building whose alerts warm the job up (not measured)


def simulate(n_buildings: int, steps: int, start: datetime = T0):
    """[(ts, [values])] per step from the generator's simulator (no anomalies)."""
    sim = Simulator(building_ids("bench", n_buildings), seed=42, replica="bench")
    out = []
    for k in range(steps):
        ts = start + timedelta(seconds=DT * k)
        batch = sim.step(k, ts, DT)
        out.append((ts, sim.encoder.encode(batch), batch.energy_kwh))
    return out


def producer(cfg):
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, linger_ms=20,
                         batch_size=512 * 1024, compression_type=None, acks=1)


def produce(cfg, steps) -> float:
    p = producer(cfg)
    t = time.perf_counter()
    for _, values, _ in steps:
        for v in values:
            p.send(cfg.kafka.readings_topic, value=v)
    p.flush(120)
    p.close()
    return time.perf_counter() - t


def fresh(cfg: Config, work: Path, name: str) -> Config:
    c = cfg.replace(
        kafka={"readings_topic": f"bench.{name}", "alerts_topic": f"bench.{name}.alerts",
               "dead_letter_topic": f"bench.{name}.dlq"},
        storage={"uri": (work / name / "warehouse").as_uri(),
                 "checkpoint_uri": (work / name / "checkpoints").as_uri()})
    kafka.create_topics(c, c.kafka.bootstrap_servers)
    return c


def file_source(spark, folder: Path):
    from pyspark.sql import functions as F

    return (spark.readStream.format("text").load(str(folder))
            .select(F.col("value").cast("binary").alias("value"),
                    F.lit("file").alias("topic"), F.lit(0).alias("partition"),
                    F.lit(0).cast("long").alias("offset")))


def run_caught_up(spark, cfg, source=None) -> float:
    t = time.perf_counter()
    queries = main.start_queries(spark, cfg, JobMetrics(cfg), source=source,
                                 available_now=True)
    for q in queries:
        q.awaitTermination()
        if q.exception():
            raise RuntimeError(f"{q.name}: {q.exception()}")
    return time.perf_counter() - t


def throughput(spark, cfg, work: Path, n_buildings: int, n_readings: int) -> dict:
    steps = simulate(n_buildings, max(2, n_readings // n_buildings))
    n = sum(len(v) for _, v, _ in steps)
    folder = work / f"files-{n_buildings}"
    folder.mkdir(parents=True)
    lines = [v for _, vals, _ in steps for v in vals]
    per_file = 20_000
    for i in range(0, len(lines), per_file):
        (folder / f"part-{i // per_file:05d}.jsonl").write_bytes(
            b"\n".join(lines[i:i + per_file]) + b"\n")
    kcfg = fresh(cfg, work, f"kafka-{n_buildings}")
    produce_s = produce(kcfg, steps)
    fcfg = fresh(cfg, work, f"file-{n_buildings}")
    file_s = run_caught_up(spark, fcfg, file_source(spark, folder))
    kafka_s = run_caught_up(spark, kcfg)
    return {"buildings": n_buildings, "readings": n,
            "produce_readings_per_s": n / produce_s,
            "file_readings_per_s": n / file_s, "kafka_readings_per_s": n / kafka_s,
            "file_seconds": file_s, "kafka_seconds": kafka_s,
            "ratio": (n / kafka_s) / (n / file_s)}


def latency(spark, cfg, work: Path, n_buildings: int, rate: float, seconds: float) -> dict:
    """Paced live feed from a separate process (as the generator is); thresholds at about half
    a window's typical energy so most buildings cross once per window. Latency of an alert =
    its Kafka timestamp minus the Kafka timestamp of the reading that crossed (both set when
    the producer was handed the record)."""
    steps_per_s = max(rate / n_buildings, 0.2)
    n_steps = int(seconds * steps_per_s)
    steps = simulate(n_buildings, n_steps, start=T0 + timedelta(days=30))
    per_window = 300 / DT
    mean_e = float(np.mean(np.concatenate([e for _, _, e in steps])))
    # Crossings must happen inside the feed even when it spans less than a window.
    span = min(per_window, n_steps)
    high, peak = 0.5 * span * mean_e, 0.6 * span * mean_e
    lcfg = fresh(cfg, work, f"live-{n_buildings}").replace(
        alerts={"high_consumption_kwh": high, "peak_demand_kwh": peak},
        job={"trigger_seconds": 0.25}, metrics={"max_buildings": 1000})
    queries = main.start_queries(spark, lcfg, JobMetrics(lcfg))
    try:
        # Warm up every path a measured alert takes (Python workers, compiled code, the
        # Kafka and Parquet writers): one step of the fleet plus a reading over both
        # thresholds from a building outside it.
        warm_at = T0 + timedelta(days=29)
        warm = simulate(n_buildings, 1, start=warm_at)
        produce(lcfg, warm)
        p = producer(lcfg)
        p.send(lcfg.kafka.readings_topic, value=json.dumps(
            {"timestamp": warm_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "building_id": WARM,
             "energy_kwh": min(peak + 1.0, 99_999.0), "temperature": 20.0, "humidity": 50.0,
             "occupancy": 1, "day_of_week": warm_at.weekday(), "hour": warm_at.hour}).encode())
        p.flush()
        p.close()
        deadline = time.time() + 180
        while not (all(any(p["numInputRows"] for p in q.recentProgress) for q in queries)
                   and len(collect_alerts(lcfg, quiet_s=0.5)) >= 2):
            if time.time() > deadline:
                raise RuntimeError("warm-up did not finish")
            time.sleep(0.5)
        ctx = multiprocessing.get_context("spawn")
        feeder = ctx.Process(target=feed, args=(lcfg.kafka.bootstrap_servers,
                                                lcfg.kafka.readings_topic,
                                                [v for _, v, _ in steps], steps_per_s))
        t_start = time.time()
        feeder.start()
        feeder.join()
        feed_s = time.time() - t_start
        if feeder.exitcode != 0:
            raise RuntimeError(f"feed process failed ({feeder.exitcode})")
        alerts = collect_alerts(lcfg, quiet_s=8.0)
        batches = [p["durationMs"].get("triggerExecution", 0) / 1000
                   for q in queries if q.name == "alerts" for p in q.recentProgress
                   if p["numInputRows"]]
    finally:
        main.stop_all(queries)
    sent = reading_times(lcfg)
    lat = []
    for a in alerts:
        if a["building_id"] == WARM:
            continue
        key = (a["building_id"], a["event_time"][:19])
        if key in sent:
            lat.append((a["_kafka_ms"] - sent[key]) / 1000)
    lat.sort()

    def q(f, xs=lat):
        return xs[min(len(xs) - 1, int(f * len(xs)))] if xs else float("nan")

    batches.sort()
    return {"buildings": n_buildings, "feed_readings_per_s": sum(
        len(v) for _, v, _ in steps) / feed_s, "alerts": len(lat),
        "latency_p50_s": q(0.5), "latency_p95_s": q(0.95),
        "latency_max_s": lat[-1] if lat else float("nan"),
        "latency_mean_s": statistics.fmean(lat) if lat else float("nan"),
        "alerts_batch_p50_s": q(0.5, batches), "alerts_batch_p95_s": q(0.95, batches)}


def feed(bootstrap: str, topic: str, steps: list[list[bytes]], steps_per_s: float) -> None:
    """Send each step's readings at its due time (run in its own process)."""
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    t_start = time.time()
    for k, values in enumerate(steps):
        due = t_start + k / steps_per_s
        if due > time.time():
            time.sleep(due - time.time())
        for v in values:
            p.send(topic, value=v)
        p.flush()
    p.close()


def reading_times(cfg) -> dict[tuple[str, str], int]:
    """(building, event time to the second) → Kafka timestamp (ms) of each reading."""
    from kafka import KafkaConsumer

    c = KafkaConsumer(cfg.kafka.readings_topic, bootstrap_servers=cfg.kafka.bootstrap_servers,
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      consumer_timeout_ms=3000, max_partition_fetch_bytes=8 << 20)
    out = {}
    for r in c:
        d = json.loads(r.value)
        out[(d["building_id"], d["timestamp"][:19])] = r.timestamp
    c.close()
    return out


def collect_alerts(cfg, quiet_s: float) -> list[dict]:
    from kafka import KafkaConsumer

    c = KafkaConsumer(cfg.kafka.alerts_topic, bootstrap_servers=cfg.kafka.bootstrap_servers,
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      consumer_timeout_ms=int(quiet_s * 1000))
    out = [json.loads(r.value) | {"_kafka_ms": r.timestamp} for r in c]
    c.close()
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, "
            f"{platform.system()} {platform.release()}")


def main_(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    ap.add_argument("--buildings", default="100,10000", help="comma list of fleet sizes")
    ap.add_argument("--live-rate", type=float, default=1_000,
                    help="readings/s of the paced feed of the latency runs (well below the "
                         "job's throughput, or the latency measures queueing)")
    ap.add_argument("--only", choices=("throughput", "latency"),
                    help="run one half (the JSON then holds only that half)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "pipeline.json"))
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.buildings.split(",")]
    n_readings = 40_000 if args.quick else 400_000
    live_s = 20 if args.quick else 60

    work = Path(tempfile.mkdtemp(prefix="wattstream-bench-"))
    cfg = Config().replace(
        local={"run_dir": str(work / "stack"), "kafka_port": free_port(),
               "kafka_controller_port": free_port()},
        kafka={"partitions": 2},
        job={"max_offsets_per_trigger": 10_000_000, "shuffle_partitions": 2},
        metrics={"job_port": free_port()})
    broker = kafka.start(cfg, work / "stack")
    cfg = cfg.replace(kafka={"bootstrap_servers": kafka.bootstrap(cfg)})
    spark = session.build(cfg, app_name="wattstream-bench", ui=False)
    spark.sparkContext.setLogLevel("ERROR")
    results = {"machine": machine(), "quick": args.quick, "when": datetime.now(UTC).isoformat(
        timespec="seconds"), "load_average_start": os.getloadavg(), "throughput": [],
        "latency": [], "live_rate": args.live_rate}
    try:
        throughput(spark, cfg, work / "warmup", 50, 2_000)  # JIT and Python workers
        for b in sizes if args.only != "latency" else ():
            r = throughput(spark, cfg, work, b, n_readings)
            results["throughput"].append(r)
            print(f"throughput {b}: {r}", flush=True)
        for b in sizes if args.only != "throughput" else ():
            r = latency(spark, cfg, work, b, rate=args.live_rate, seconds=live_s)
            results["latency"].append(r)
            print(f"latency {b}: {r}", flush=True)
    finally:
        spark.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    # Other work on the machine skews every figure: keep the load next to them.
    results["load_average_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    return 0


def table(r: dict) -> str:
    load = r.get("load_average_start", ("?",))[0], r.get("load_average_end", ("?",))[0]
    lines = [f"machine: {r['machine']}{'  (--quick)' if r['quick'] else ''}; "
             f"load average {load[0]} at start, {load[1]} at end; live feed "
             f"{r.get('live_rate', '?')} readings/s", "",
             "| buildings | readings | file source (ceiling) /s | Kafka end to end /s | "
             "ratio | alert p50 s | alert p95 s | live feed /s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lat = {x["buildings"]: x for x in r["latency"]}
    thr = {x["buildings"]: x for x in r["throughput"]}
    nan = float("nan")
    for b in sorted(lat.keys() | thr.keys()):
        t, la = thr.get(b, {}), lat.get(b, {})
        lines.append(
            f"| {b:,} | {t.get('readings', 0):,} | {t.get('file_readings_per_s', nan):,.0f} | "
            f"{t.get('kafka_readings_per_s', nan):,.0f} | {t.get('ratio', nan):.2f} | "
            f"{la.get('latency_p50_s', nan):.2f} | {la.get('latency_p95_s', nan):.2f} | "
            f"{la.get('feed_readings_per_s', nan):,.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main_())
