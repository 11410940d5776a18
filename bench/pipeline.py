"""Throughput of the streaming job against the engine it runs on, and its alert latency.

    .venv/bin/python bench/pipeline.py                          # 1 000 buildings, 2 M readings
    .venv/bin/python bench/pipeline.py --buildings 1000,10000,100000
    .venv/bin/python bench/pipeline.py --readings 500000 --phases ceiling,job --only throughput

Starts its own single-node broker (`wattstream.local.kafka.start`) on free ports in a temporary
folder. Per fleet size, one topic (the default config's partitions) is filled once by
`wattstream generate backfill` (timed on its own); then each phase reads that same topic from the
earliest offset until every offset is consumed (Trigger.AvailableNow), in a fresh Python driver
and JVM of its own, with the job's session (`spark.build`: shuffle partitions, scheduler,
Arrow, driver memory) and the default config's `job.max_offsets_per_trigger`:

  read      the Kafka source alone → noop sink: what reading the topic costs
  parse     the job's `parse.decode` → noop sink: the validation and quarantine expressions
  ceiling   plain Spark: `from_json` with a fixed schema → watermark → tumbling window aggregate
            per building (count, sum/avg/max energy, avg temperature/humidity/occupancy) →
            Parquet append. What the engine does with the same readings and settings.
  job       the job as `wattstream job` builds it (`main.start_queries` with its progress
            listener and metrics endpoint): its one query (the window engine: alerts, live
            view, quarantine, correlations, final windows) until caught up; plus the time of
            its batches by step and the size of its driver-side state.

Per phase: readings/s over the whole run (query start to the end of the last batch) and marginal
(steady state: the readings the phase finished after its query's first `--skip-batches`
batches, over the time from then to the end); batch duration p50/p95 and the time split by
the query's durationMs; peak state memory (stateOperators memoryUsedBytes; the job's own state
is reported apart); peak RSS and CPU seconds (query start to end) of the Python driver, the
JVM and the PySpark workers, and the broker's CPU seconds, sampled from /proc every half
second. Ratios are to the ceiling of the same fleet. The windows the ceiling and job phases
wrote (closed by the watermark) are counted as a check that they
did the same work. Readings per CPU second (the JVM, the Python driver and its workers; not the
broker) changes far less than wall time with the machine's load: compare ratios by it when the
load average is well above the cores.

Alert latency runs the job continuously on a paced live feed from another process: Kafka
timestamp of the alert record minus the Kafka timestamp of the reading that crossed.

Other work on the machine skews every figure: the load average is kept next to each. The
phases import wattstream from the tree this script sits in (`src/` on PYTHONPATH), uncommitted
edits included (the JSON lists changed files under src/). To measure a commit while the work tree
has edits, run the script from a clone: `git clone --shared . /tmp/ws && cp bench/pipeline.py
/tmp/ws/bench/ && WATTSTREAM_JARS=$PWD/.cache/jars .venv/bin/python /tmp/ws/bench/pipeline.py
--out bench/results/pipeline.json`.

Prints tables and writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402
from memory import WORKER_MARKS, children, cmdline, descendants, is_jvm, status  # noqa: E402

from wattstream import layout  # noqa: E402
from wattstream.config import Config, load_config, to_dict  # noqa: E402
from wattstream.generator.fleet import building_ids  # noqa: E402
from wattstream.generator.simulate import Simulator  # noqa: E402
from wattstream.local import alertmanager, kafka  # noqa: E402
from wattstream.local.procs import free_port  # noqa: E402

MIB = 1 << 20
T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
PHASES = ("read", "parse", "ceiling", "job")
DEFAULT_PHASES = ("read", "parse", "ceiling", "job")
DT = 5.0  # event-time seconds between a building's readings (latency feed)
WARM = "bench-warm-up"  # the building whose alerts warm the job up (not measured)
PROGRESS = {"spark.sql.streaming.numRecentProgressUpdates": "100000"}


def child_env() -> dict[str, str]:
    """Subprocesses import wattstream from the tree this script is in (not an install)."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


# --- phases (each in its own process) ----------------------------------------------------------

def start_read(spark, cfg: Config) -> list:
    from wattstream.job import main

    return [noop(main.kafka_source(spark, cfg), cfg, "read")]


def start_parse(spark, cfg: Config) -> list:
    from wattstream.job import main, parse

    return [noop(parse.decode(main.kafka_source(spark, cfg), cfg.schema.timezone), cfg, "parse")]


def noop(df, cfg: Config, name: str):

    return (df.writeStream.queryName(name).format("noop")
            .option("checkpointLocation", layout.checkpoint(cfg, name))
            .trigger(availableNow=True).start())


CEILING_SCHEMA = ("timestamp TIMESTAMP, building_id STRING, energy_kwh DOUBLE, temperature DOUBLE, "
                  "humidity DOUBLE, occupancy BIGINT, day_of_week INT, hour INT")


def start_ceiling(spark, cfg: Config) -> list:
    from pyspark.sql import functions as F

    from wattstream.job import main

    w = cfg.windows
    readings = (main.kafka_source(spark, cfg)
                .select(F.from_json(F.col("value").cast("string"), CEILING_SCHEMA).alias("r"))
                .select("r.*"))
    windows = (readings.withWatermark("timestamp", f"{w.watermark_seconds} seconds")
               .groupBy(F.window("timestamp", f"{w.length_seconds} seconds").alias("w"),
                        "building_id")
               .agg(F.count(F.lit(1)).alias("readings"), F.sum("energy_kwh").alias("energy_kwh"),
                    F.avg("energy_kwh").alias("avg_kwh"), F.max("energy_kwh").alias("peak_kwh"),
                    F.avg("temperature").alias("avg_temperature"),
                    F.avg("humidity").alias("avg_humidity"),
                    F.avg("occupancy").alias("avg_occupancy"))
               .select("building_id", F.col("w.start").alias("window_start"),
                       F.col("w.end").alias("window_end"), "readings", "energy_kwh", "avg_kwh",
                       "peak_kwh", "avg_temperature", "avg_humidity", "avg_occupancy"))
    return [windows.writeStream.queryName("ceiling").format("parquet").outputMode("append")
            .option("path", layout.data(cfg, "ceiling"))
            .option("checkpointLocation", layout.checkpoint(cfg, "ceiling"))
            .trigger(availableNow=True).start()]


def start_job(spark, cfg: Config) -> list:
    """As `main.run` does, with availableNow triggers."""
    from wattstream.job import main
    from wattstream.job.metrics import JobMetrics, ProgressListener

    metrics = JobMetrics(cfg)
    metrics.serve()
    spark.streams.addListener(ProgressListener(metrics))
    return main.start_queries(spark, cfg, metrics, available_now=True)


STARTS = {"read": start_read, "parse": start_parse, "ceiling": start_ceiling, "job": start_job}
# The Parquet windows each phase writes, counted after the run.
OUTPUTS = {"ceiling": "ceiling", "job": "windows"}


def batches(query) -> list[dict]:
    out = []
    for p in query.recentProgress:
        start = datetime.fromisoformat(p["timestamp"]).timestamp()
        ops = p.get("stateOperators") or []
        out.append({"batch": p["batchId"], "start": start, "rows": p["numInputRows"],
                    "duration_ms": dict(p["durationMs"]),
                    "state_bytes": sum(o.get("memoryUsedBytes", 0) for o in ops),
                    "state_rows": sum(o.get("numRowsTotal", 0) for o in ops)})
    return out


def final_windows(spark, path: str) -> dict:
    """Windows the phase wrote (closed by the watermark) and the readings in them."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    try:
        got = spark.read.parquet(path).agg(F.count(F.lit(1)).alias("windows"),
                                           F.sum("readings").alias("readings"))
    except AnalysisException:  # nothing written: no window closed
        return {"windows": 0, "readings": 0}
    return got.first().asDict()


def run_phase(phase: str, config_file: str, result_file: str, extra: dict) -> None:
    """One phase in this process: build the session, run its queries until caught up, write the
    progress of every batch and the process's timing to `result_file`."""
    from wattstream import spark as session

    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(config_file)
    t = time.time()
    spark = session.build(cfg, app_name=f"wattstream-bench-{phase}", extra=PROGRESS)
    out = {"phase": phase, "session_seconds": time.time() - t}
    try:
        if phase == "latency":
            out["latency"] = latency(spark, cfg, Path(extra["work"]), **extra["args"])
        else:
            out["load_average_start"] = os.getloadavg()
            out["start"] = time.time()
            queries = STARTS[phase](spark, cfg)
            for q in queries:
                q.awaitTermination()
                if q.exception():
                    raise RuntimeError(f"{q.name}: {q.exception()}")
            out["end"] = time.time()
            out["load_average_end"] = os.getloadavg()
            out["queries"] = {q.name: batches(q) for q in queries}
            engines = [q.batches for q in queries if hasattr(q, "batches")]
            if engines:  # the job: its driver-side state and where each batch's time went
                e = engines[0]
                out["engine_state"] = {"rows": len(e.engine.windows),
                                       "bytes": len(e.engine.encode())}
                out["engine_steps"] = list(e.timings)
            if phase in OUTPUTS:
                out["final_windows"] = final_windows(spark, layout.data(cfg, OUTPUTS[phase]))
    finally:
        Path(result_file).write_text(json.dumps(out))
        spark.stop()


# --- sampling the phase's processes ------------------------------------------------------------

def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probe(pid: int | None) -> dict | None:
    st, cpu = status(pid), cpu_seconds(pid) if pid else None
    return None if st is None or cpu is None else {**st, "cpu": cpu}


class Sampler(threading.Thread):
    """Every `every` seconds: RSS, peak RSS and CPU time of the phase's Python driver, its JVM
    and the JVM's PySpark processes (the daemon and the workers it forks), and of the broker."""

    def __init__(self, driver: int, broker: int | None, every: float = 0.5):
        super().__init__(daemon=True)
        self.driver, self.broker, self.every, self.jvm = driver, broker, every, None
        self.samples: list[dict] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            kids = children()
            if self.jvm is None or not status(self.jvm):
                self.jvm = next((p for p in descendants(kids, self.driver) if is_jvm(p)), None)
            workers = {}
            for p in descendants(kids, self.jvm) if self.jvm else ():
                if any(m in cmdline(p) for m in WORKER_MARKS) and (s := probe(p)):
                    workers[p] = s
            self.samples.append({"t": time.time(), "driver": probe(self.driver),
                                 "jvm": probe(self.jvm), "kafka": probe(self.broker),
                                 "workers": workers})
            self.done.wait(self.every)

    def stop(self) -> None:
        self.done.set()
        self.join(10)


def usage(samples: list[dict], start: float, end: float) -> dict:
    """Peak RSS (MiB; the larger of sampled RSS and the kernel's VmHWM, over the process's life)
    and CPU seconds between `start` and `end`."""
    def peak(key: str) -> float:
        seen = [s[key] for s in samples if s[key]]
        return max([x["rss"] for x in seen] + [x["hwm"] for x in seen], default=0) / MIB

    inside = [s for s in samples if start <= s["t"] <= end] or samples[-1:]
    before = [s for s in samples if s["t"] < start][-1:] or inside[:1]
    first, last = before[0], inside[-1]

    def cpu(key: str) -> float:
        a, b = first[key], last[key]
        return (b["cpu"] - (a["cpu"] if a else 0.0)) if b else 0.0

    # A worker's CPU is its last sample minus what it had used before the start (if alive then).
    workers_cpu: dict[int, float] = {}
    for s in samples:
        if first["t"] <= s["t"] <= end:
            for pid, w in s["workers"].items():
                workers_cpu[pid] = w["cpu"] - first["workers"].get(pid, {"cpu": 0.0})["cpu"]
    return {"driver_rss_peak_mib": round(peak("driver"), 1),
            "jvm_rss_peak_mib": round(peak("jvm"), 1),
            "workers_rss_sum_peak_mib": round(max(
                (sum(w["rss"] for w in s["workers"].values()) for s in samples), default=0)
                / MIB, 1),
            "worker_processes": len({p for s in samples for p in s["workers"]}),
            "cpu_seconds": {"driver": round(cpu("driver"), 1), "jvm": round(cpu("jvm"), 1),
                            "workers": round(sum(workers_cpu.values()), 1),
                            "kafka": round(cpu("kafka"), 1)}}


def run_child(phase: str, config_file: Path, folder: Path, broker: int | None,
              extra: dict | None = None) -> dict:
    """Run `phase` in a fresh process, sampled; its result with the resource figures."""
    result_file, log_file = folder / f"{phase}.json", folder / f"{phase}.log"
    cmd = [sys.executable, __file__, "--phase", phase, "--config", str(config_file),
           "--result", str(result_file), "--extra", json.dumps(extra or {})]
    with open(log_file, "wb") as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=child_env())
    sampler = Sampler(child.pid, broker)
    sampler.start()
    rc = child.wait()
    sampler.stop()
    if rc != 0 or not result_file.exists():
        tail = log_file.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"phase {phase} failed ({rc}); end of {log_file}:\n{tail}")
    out = json.loads(result_file.read_text())
    if "start" in out:
        out["resources"] = usage(sampler.samples, out["start"], out["end"])
    return out


# --- figures -----------------------------------------------------------------------------------

def pct(xs: list[float], f: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(f * len(xs)))] if xs else float("nan")


def ends(bs: list[dict]) -> list[tuple[float, int]]:
    """(end time, rows) of each batch in order."""
    return [(b["start"] + b["duration_ms"].get("triggerExecution", 0) / 1000, b["rows"])
            for b in sorted(bs, key=lambda b: b["batch"])]


def marginal(queries: dict[str, list[dict]], skip: int) -> float:
    """Readings/s in steady state: from the moment every query has finished its first `skip`
    batches with data to the last batch's end; a reading counts as finished once every query
    has read it."""
    data = {q: ends([b for b in bs if b["rows"]]) for q, bs in queries.items()}
    if any(len(e) <= skip for e in data.values()):
        return float("nan")
    t_s = max(e[skip - 1][0] for e in data.values()) if skip else min(
        b["start"] for bs in queries.values() for b in bs)
    t_end = max(t for bs in queries.values() for t, _ in ends(bs))
    total = min(sum(r for _, r in e) for e in data.values())
    done = min(sum(r for t, r in e if t <= t_s) for e in data.values())
    return (total - done) / (t_end - t_s) if t_end > t_s else float("nan")


def time_split(bs: list[dict]) -> dict[str, float]:
    """Seconds per durationMs part, summed over the batches."""
    out: dict[str, float] = {}
    for b in bs:
        for k, v in b["duration_ms"].items():
            out[k] = out.get(k, 0.0) + v / 1000
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def query_figures(bs: list[dict]) -> dict:
    data = [b for b in bs if b["rows"]]
    secs = [b["duration_ms"].get("triggerExecution", 0) / 1000 for b in data]
    e = ends(bs)
    span = e[-1][0] - min(b["start"] for b in bs) if bs else float("nan")
    return {"readings": sum(b["rows"] for b in bs), "batches": len(bs), "data_batches": len(data),
            "readings_per_s": sum(b["rows"] for b in bs) / span if span else float("nan"),
            "batch_p50_s": pct(secs, 0.5), "batch_p95_s": pct(secs, 0.95),
            "batch_max_s": max(secs, default=float("nan")),
            "state_peak_mib": round(max((b["state_bytes"] for b in bs), default=0) / MIB, 1),
            "state_rows_peak": max((b["state_rows"] for b in bs), default=0),
            "time_split_s": time_split(bs)}


def steps(raw: dict) -> dict | None:
    """The job's batch time by step (seconds summed over its batches), and the windows and
    crossing readings the driver handled."""
    rows = raw.get("engine_steps")
    if not rows:
        return None
    names = [k for k in rows[0] if k not in ("batch", "windows", "candidates",
                                             "crossing_readings")]
    out = {n: round(sum(r.get(n, 0.0) for r in rows), 2) for n in names}
    out.update(batches=len(rows), windows=sum(r["windows"] for r in rows),
               candidates=sum(r["candidates"] for r in rows),
               crossing_readings=sum(r["crossing_readings"] for r in rows))
    return out


def summarise(raw: dict, readings: int, skip: int) -> dict:
    """A phase's figures from its child's result."""
    qs = raw["queries"]
    wall = raw["end"] - raw["start"]
    last = max(t for bs in qs.values() for t, _ in ends(bs)) - raw["start"]
    read = {q: sum(b["rows"] for b in bs) for q, bs in qs.items()}
    figs = {q: query_figures(bs) for q, bs in qs.items()}
    data = [b for bs in qs.values() for b in bs if b["rows"]]
    secs = [b["duration_ms"].get("triggerExecution", 0) / 1000 for b in data]
    cpu = raw["resources"]["cpu_seconds"]
    spark_cpu = cpu["jvm"] + cpu["driver"] + cpu["workers"]
    return {"phase": raw["phase"], "readings": readings, "read_by_query": read,
            "complete": all(n == readings for n in read.values()),
            "session_seconds": round(raw["session_seconds"], 1),
            "seconds": round(wall, 2), "seconds_to_last_batch": round(last, 2),
            "readings_per_s": readings / last, "marginal_readings_per_s": marginal(qs, skip),
            "readings_per_cpu_s": readings / spark_cpu if spark_cpu else float("nan"),
            "batch_p50_s": pct(secs, 0.5), "batch_p95_s": pct(secs, 0.95),
            "state_peak_mib": sum(f["state_peak_mib"] for f in figs.values()),
            "queries": figs, "final_windows": raw.get("final_windows"),
            "engine_state": raw.get("engine_state"), "engine_steps": steps(raw),
            "load_average_start": raw["load_average_start"],
            "load_average_end": raw["load_average_end"], **raw["resources"]}


# --- filling the topic -------------------------------------------------------------------------

def fill(config_file: Path, buildings: int, readings: int, folder: Path) -> dict:
    """`wattstream generate backfill` of `readings` readings of `buildings` buildings."""
    summary = folder / "backfill.json"
    load = os.getloadavg()
    t = time.perf_counter()
    gen = subprocess.run([sys.executable, "-m", "wattstream", "--config", str(config_file),
                          "--log-level", "WARNING", "generate", "backfill", "--buildings",
                          str(buildings), "--count", str(readings), "--start",
                          T0.strftime("%Y-%m-%dT%H:%M:%SZ"), "--no-progress", "--summary",
                          str(summary)], capture_output=True, text=True, env=child_env())
    wall = time.perf_counter() - t
    if gen.returncode != 0:
        raise RuntimeError(f"backfill failed: {gen.stderr[-2000:]}")
    s = json.loads(summary.read_text())
    if s["acknowledged"] != readings:
        raise RuntimeError(f"backfill: {s['acknowledged']} of {readings} readings acknowledged")
    return {"buildings": buildings, "readings": readings, "seconds": round(wall, 1),
            "readings_per_s": readings / wall, "generator_seconds": s["seconds"],
            "anomalies": s["anomalies"], "first_event": s["first_event"],
            "last_event": s["last_event"], "load_average_start": load,
            "load_average_end": os.getloadavg()}


def scale_config(base: Config, folder: Path, topic: str, phase: str) -> Path:
    """The default config on the bench broker, reading `topic`, writing under `folder`."""
    cfg = base.replace(
        kafka={"readings_topic": topic, "alerts_topic": f"{topic}.{phase}.alerts",
               "dead_letter_topic": f"{topic}.{phase}.dlq"},
        storage={"uri": (folder / phase / "warehouse").as_uri(),
                 "checkpoint_uri": (folder / phase / "checkpoints").as_uri()},
        metrics={"job_port": free_port(), "generator_port": 0})
    kafka.create_topics(cfg, cfg.kafka.bootstrap_servers)
    path = folder / f"{phase}.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return path


def throughput(base: Config, work: Path, buildings: int, readings: int, phases: list[str],
               skip: int, broker: int | None) -> dict:
    folder = work / f"b{buildings}"
    folder.mkdir(parents=True)
    topic = f"bench.b{buildings}"
    out = {"buildings": buildings, "readings": readings,
           "fill": fill(scale_config(base, folder, topic, "fill"), buildings, readings, folder),
           "phases": {}}
    print(f"fill {buildings}: {out['fill']}", flush=True)
    for phase in phases:
        raw = run_child(phase, scale_config(base, folder, topic, phase), folder, broker)
        r = out["phases"][phase] = summarise(raw, readings, skip)
        print(f"{phase} {buildings}: {r['readings_per_s']:,.0f}/s whole, "
              f"{r['marginal_readings_per_s']:,.0f}/s marginal, {r['seconds']} s", flush=True)
    ceiling = out["phases"].get("ceiling")
    for r in out["phases"].values():
        if ceiling:
            r["ratio"] = r["readings_per_s"] / ceiling["readings_per_s"]
            r["marginal_ratio"] = r["marginal_readings_per_s"] / ceiling[
                "marginal_readings_per_s"]
            r["cpu_ratio"] = r["readings_per_cpu_s"] / ceiling["readings_per_cpu_s"]
    return out


# --- alert latency (runs in a phase process) ---------------------------------------------------

def simulate(n_buildings: int, steps: int, start: datetime = T0):
    """[(ts, [values], energy)] per step from the generator's simulator (no anomalies)."""
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


def latency(spark, cfg, work: Path, buildings: int, rate: float, seconds: float,
            notifications: str | None = None) -> dict:
    """Paced live feed from a separate process (as the generator is); thresholds at about half
    a window's typical energy so most buildings cross once per window. Latency of an alert =
    its Kafka timestamp minus the Kafka timestamp of the reading that crossed (both set when
    the producer was handed the record). With `notifications` (the local receiver's file;
    `cfg.notify` names the Alertmanager) the job's notifier runs as in `wattstream job`, and
    each notification's latency is its arrival at the receiver minus the crossing reading's
    Kafka timestamp."""
    from wattstream.job import main, notify
    from wattstream.job.metrics import JobMetrics

    steps_per_s = max(rate / buildings, 0.2)
    n_steps = int(seconds * steps_per_s)
    steps = simulate(buildings, n_steps, start=T0 + timedelta(days=30))
    feed_from = (T0 + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    per_window = 300 / DT
    mean_e = float(np.mean(np.concatenate([e for _, _, e in steps])))
    # Crossings must happen inside the feed even when it spans less than a window.
    span = min(per_window, n_steps)
    high, peak = 0.5 * span * mean_e, 0.6 * span * mean_e
    lcfg = fresh(cfg, work, f"live-{buildings}").replace(
        alerts={"high_consumption_kwh": high, "peak_demand_kwh": peak},
        job={"trigger_seconds": 0.25}, metrics={"max_buildings": 1000})
    metrics = JobMetrics(lcfg)
    queries = main.start_queries(spark, lcfg, metrics)
    notifier = notify.Notifier(lcfg, metrics).start() if notifications else None
    try:
        # Warm up every path a measured alert takes (Python workers, compiled code, the
        # Kafka and Parquet writers): one step of the fleet plus a reading over both
        # thresholds from a building outside it.
        warm_at = T0 + timedelta(days=29)
        warm = simulate(buildings, 1, start=warm_at)
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
        load = os.getloadavg()
        # Batches from here on are the feed's (the warm-up's first batches compile and
        # cache, and must not count).
        first = {q.name: (q.lastProgress or {}).get("batchId", -1) + 1 for q in queries}
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
        received = quiet_notifications(Path(notifications)) if notifications else []
        fed = [p for q in queries for p in q.recentProgress
               if p["numInputRows"] and p["batchId"] >= first[q.name]]
        batch_s = [p["durationMs"].get("triggerExecution", 0) / 1000 for p in fed]
        timed = [t for q in queries for t in q.batches.timings
                 if t["windows"] and t["batch"] >= first[q.name]]
        # Each fed batch: its rows, the trigger's time and the engine's steps (the slow ones
        # say where a long alert came from).
        steps_by_batch = {t["batch"]: t for t in timed}
        batches = [{"batch": p["batchId"], "rows": p["numInputRows"],
                    "start_ms": datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00"))
                    .timestamp() * 1000,
                    "trigger_s": p["durationMs"].get("triggerExecution", 0) / 1000,
                    "add_batch_s": p["durationMs"].get("addBatch", 0) / 1000,
                    **{k: v for k, v in steps_by_batch.get(p["batchId"], {}).items()
                       if k != "batch"}} for p in fed]
        step_means = {k: round(statistics.fmean(t[k] for t in timed), 3) for k in timed[0]
                      if k not in ("batch", "windows", "candidates", "crossing_readings")
                      } if timed else {}
    finally:
        main.stop_all(queries)
        if notifier is not None:
            notifier.stop()
    sent = reading_times(lcfg)
    lat, by_type, slowest = [], {}, None
    for a in alerts:
        if a["building_id"] == WARM or a["event_time"][:19] < feed_from:
            continue  # the warm-up's (its first batch compiles and caches)
        key = (a["building_id"], a["event_time"][:19])
        if key in sent:
            lat.append((a["_kafka_ms"] - sent[key]) / 1000)
            by_type.setdefault(a["type"], []).append(lat[-1])
            if lat[-1] >= max(lat):
                # The batches that started after the crossing reading was sent: whether it
                # waited for a batch or inside one.
                slowest = {"latency_s": lat[-1], "type": a["type"], "after": [
                    {k: round((b["start_ms"] - sent[key]) / 1000, 3) if k == "start_ms" else v
                     for k, v in b.items() if k in ("batch", "start_ms", "rows", "trigger_s")}
                    for b in batches if b["start_ms"] + 1000 * b["trigger_s"] >= sent[key]][:4]}
    notified = notification_latency(received, alerts, sent, feed_from) if notifications else None
    return {"buildings": buildings, "notified": notified, "feed_readings_per_s": sum(
        len(v) for _, v, _ in steps) / feed_s, "alerts": len(lat),
        "latency_p50_s": pct(lat, 0.5), "latency_p95_s": pct(lat, 0.95),
        "latency_max_s": max(lat, default=float("nan")),
        "latency_mean_s": statistics.fmean(lat) if lat else float("nan"),
        "alerts_batch_p50_s": pct(batch_s, 0.5), "alerts_batch_p95_s": pct(batch_s, 0.95),
        "slowest_alert": slowest,
        "latency_by_type_s": {t: {"n": len(v), "p50": pct(v, 0.5), "max": max(v)}
                              for t, v in sorted(by_type.items())},
        "batch_step_means_s": step_means,
        "batch_step_p50_s": {k: pct([t[k] for t in timed], 0.5) for k in step_means},
        "batches": batches, "load_average_start": load,
        "load_average_end": os.getloadavg()}


def quiet_notifications(path: Path, quiet_s: float = 8.0, limit_s: float = 120.0) -> list:
    """The receiver's notifications once none arrived for `quiet_s` (Alertmanager's group
    waits have passed)."""
    from wattstream.local import receiver

    deadline, seen, last = time.time() + limit_s, -1, time.time()
    while time.time() < deadline:
        got = receiver.read(path)
        if len(got) != seen:
            seen, last = len(got), time.time()
        elif time.time() - last >= quiet_s:
            return got
        time.sleep(0.5)
    return receiver.read(path)


def notification_latency(received: list, alerts: list, sent: dict, feed_from: str) -> dict:
    """Per alert in a notification (an episode's first): arrival at the receiver minus the
    Kafka timestamp of the crossing reading of its alert (matched by building, type and
    window); plus how many of the feed's alert episodes got none."""
    crossing = {(a["building_id"], a["type"], a["window_start"][:19]): a["event_time"][:19]
                for a in alerts}
    lat, by_receiver, unmatched = [], {}, 0
    notified = set()
    for rec in received:
        for a in (rec["body"] or {}).get("alerts") or []:
            lab, ann = a["labels"], a["annotations"]
            key = (lab.get("building"), lab.get("alertname"), ann.get("window_start", "")[:19])
            event = crossing.get(key)
            if lab.get("building") == WARM or event is None or event < feed_from:
                unmatched += event is None and lab.get("building") != WARM
                continue
            if (key[0], key[1]) in notified:
                continue  # a repeat of the same Alertmanager alert
            notified.add((key[0], key[1]))
            sent_ms = sent.get((key[0], event))
            if sent_ms is not None:
                lat.append(rec["received_at"] - sent_ms / 1000)
                by_receiver.setdefault(rec["body"]["receiver"], []).append(lat[-1])
    fed = {(a["building_id"], a["type"]) for a in alerts
           if a["building_id"] != WARM and a["event_time"][:19] >= feed_from}
    return {"notifications": len(received), "alerts_notified": len(lat),
            "p50_s": pct(lat, 0.5), "p95_s": pct(lat, 0.95),
            "max_s": max(lat, default=float("nan")), "unmatched": unmatched,
            # Inhibited (HIGH under PEAK of the same building) or never routed.
            "alert_keys_without_notification": len(fed - notified),
            "by_receiver": {r: {"n": len(v), "p50": pct(v, 0.5), "p95": pct(v, 0.95)}
                            for r, v in sorted(by_receiver.items())}}


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


# --- report ------------------------------------------------------------------------------------

def source() -> dict:
    """The code measured: commit of this tree and the files under src/ changed from it."""
    def git(*args: str) -> str:
        run = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return run.stdout.strip() if run.returncode == 0 else ""

    return {"tree": str(ROOT), "commit": git("rev-parse", "HEAD") or None,
            "src_changed": [line[3:] for line in git("status", "--porcelain", "--", "src")
                            .splitlines()]}


def _load(r: dict) -> str:
    return f"{r['load_average_start'][0]:.1f}→{r['load_average_end'][0]:.1f}"


def table(res: dict) -> str:
    m, nan = res["machine"], float("nan")
    lines = [f"machine: {common.describe(m)}; load average "
             f"{_load(res)} over the run; {res['max_offsets_per_trigger']:,} offsets a batch, "
             f"marginal after {res['skip_batches']} batch(es)"]
    src = res["source"]
    lines.append(f"code: {src['commit'] or src['tree']}" + (
        f", with changes to {', '.join(src['src_changed'])}" if src["src_changed"] else ""))
    lines.append("")
    for s in res["throughput"]:
        f = s["fill"]
        lines.append(f"{s['buildings']:,} buildings: backfill of {f['readings']:,} readings in "
                     f"{f['seconds']} s ({f['readings_per_s']:,.0f}/s), load {_load(f)}")
    lines += ["", "| buildings | phase | readings/s | marginal /s | ratio (marginal) "
              "| readings/CPU s (ratio) | batches "
              "| batch p50 s | p95 s | state MiB | driver RSS | JVM RSS | workers Σ RSS "
              "| CPU s JVM/driver/workers/Kafka | load |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for s in res["throughput"]:
        for name, r in s["phases"].items():
            c = r["cpu_seconds"]
            lines.append(
                f"| {s['buildings']:,} | {name}{'' if r['complete'] else ' (incomplete)'} | "
                f"{r['readings_per_s']:,.0f} | {r['marginal_readings_per_s']:,.0f} | "
                f"{r.get('ratio', nan):.2f} ({r.get('marginal_ratio', nan):.2f}) | "
                f"{r['readings_per_cpu_s']:,.0f} ({r.get('cpu_ratio', nan):.2f}) | "
                f"{sum(q['data_batches'] for q in r['queries'].values())} | "
                f"{r['batch_p50_s']:.1f} | {r['batch_p95_s']:.1f} | {r['state_peak_mib']:.1f} | "
                f"{r['driver_rss_peak_mib']:.0f} | {r['jvm_rss_peak_mib']:.0f} | "
                f"{r['workers_rss_sum_peak_mib']:.0f} | "
                f"{c['jvm']:.0f}/{c['driver']:.0f}/{c['workers']:.0f}/{c['kafka']:.0f} | "
                f"{_load(r)} |")
            if len(r["queries"]) > 1:
                for q, f in r["queries"].items():
                    lines.append(
                        f"| | └ {q} | {f['readings_per_s']:,.0f} | | | | {f['data_batches']} | "
                        f"{f['batch_p50_s']:.1f} | {f['batch_p95_s']:.1f} | "
                        f"{f['state_peak_mib']:.1f} | | | | | |")
        done = {n: r["final_windows"] for n, r in s["phases"].items() if r.get("final_windows")}
        if done:
            lines.append("")
            lines.append(f"final windows written at {s['buildings']:,} buildings: " + "; ".join(
                f"{n} {w['windows']:,} ({w['readings'] or 0:,} readings)"
                for n, w in done.items()))
    engine = [(s["buildings"], r["engine_steps"], r.get("engine_state"))
              for s in res["throughput"] for r in s["phases"].values() if r.get("engine_steps")]
    if engine:
        keys = [k for k in engine[0][1] if k not in ("batches", "windows", "candidates",
                                                     "crossing_readings")]
        lines += ["", "the job's batches by step (s, summed): partials = Kafka read, parse and "
                  "partial aggregates in the JVM; crossing_search = collecting the readings of "
                  "windows that may cross; engine = the driver's pandas fold; files = Parquet and "
                  "state", "", "| buildings | " + " | ".join(keys)
                  + " | window rows | candidate windows | crossing readings | state rows (KiB) |",
                  "|---:|" + "---:|" * (len(keys) + 4)]
        for b, st, state in engine:
            state_txt = (f"{state['rows']:,} ({state['bytes'] / 1024:.0f})" if state else "")
            lines.append(f"| {b:,} | " + " | ".join(f"{st[k]:.1f}" for k in keys)
                         + f" | {st['windows']:,} | {st['candidates']:,} | "
                         f"{st['crossing_readings']:,} | {state_txt} |")
    lines += ["", "time per query (s, summed over batches): trigger = addBatch + the rest",
              "", "| buildings | query | trigger | addBatch | queryPlanning | latestOffset "
              "| walCommit + commitOffsets | other |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for s in res["throughput"]:
        for name, r in s["phases"].items():
            for q, f in r["queries"].items():
                t = f["time_split_s"]
                total = t.get("triggerExecution", 0.0)
                parts = [t.get("addBatch", 0.0), t.get("queryPlanning", 0.0),
                         t.get("latestOffset", 0.0),
                         t.get("walCommit", 0.0) + t.get("commitOffsets", 0.0)]
                label = name if q == name else f"{name}: {q}"
                lines.append(f"| {s['buildings']:,} | {label} | {total:.1f} | "
                             + " | ".join(f"{x:.1f}" for x in parts)
                             + f" | {total - sum(parts):.1f} |")
    if res["latency"]:
        lines += ["", f"alert latency, live feed of {res['live_rate']:,.0f} readings/s:", "",
                  "| buildings | feed /s | alerts | p50 s | p95 s | max s | batch p50 s "
                  "| p95 s | load |", "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for la in res["latency"]:
            lines.append(
                f"| {la['buildings']:,} | {la['feed_readings_per_s']:,.0f} | {la['alerts']} | "
                f"{la['latency_p50_s']:.2f} | {la['latency_p95_s']:.2f} | "
                f"{la['latency_max_s']:.2f} | {la['alerts_batch_p50_s']:.2f} | "
                f"{la['alerts_batch_p95_s']:.2f} | {_load(la)} |")
        lines += ["", "the job's batches during the live feed, mean seconds by step:", ""]
        for la in res["latency"]:
            means = la.get("batch_step_means_s") or {}
            p50 = la.get("batch_step_p50_s") or {}
            lines.append(f"- {la['buildings']:,} buildings at {la['feed_readings_per_s']:,.0f}/s: "
                         + ", ".join(f"{k} {v:.3f} (p50 {p50.get(k, float('nan')):.3f})"
                                     for k, v in means.items()))
            lines.append("  alert latency by type: " + ", ".join(
                f"{t} n={v['n']} p50 {v['p50']:.2f} s max {v['max']:.2f} s"
                for t, v in (la.get("latency_by_type_s") or {}).items()))
            if la.get("slowest_alert"):
                lines.append(f"  slowest alert: {la['slowest_alert']}")
            if n := la.get("notified"):
                lines.append(
                    f"  crossing reading → webhook receiver (Alertmanager, local routing): "
                    f"{n['alerts_notified']} alerts in {n['notifications']} notifications, "
                    f"p50 {n['p50_s']:.2f} s, p95 {n['p95_s']:.2f} s, max {n['max_s']:.2f} s; "
                    f"alert keys without a notification {n['alert_keys_without_notification']}"
                    " (inhibited or repeats); " + ", ".join(
                        f"{r} n={v['n']} p95 {v['p95']:.2f} s"
                        for r, v in n["by_receiver"].items()))
            slow = sorted(la.get("batches", []), key=lambda b: -b["trigger_s"])[:3]
            lines += [f"  slow batch {b['batch']}: " + ", ".join(
                f"{k} {v}" for k, v in b.items() if k != "batch") for b in slow]
    return "\n".join(lines)


def main_(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", default="1000",
                    help="comma list of fleet sizes, e.g. 1000,10000,100000 (default 1000)")
    ap.add_argument("--readings", type=int, default=2_000_000, help="readings per fleet size")
    ap.add_argument("--phases", default=",".join(DEFAULT_PHASES),
                    help=f"comma list of {', '.join(PHASES)} (default: %(default)s)")
    ap.add_argument("--skip-batches", type=int, default=2,
                    help="batches with data left out of the marginal rate (start-up)")
    ap.add_argument("--live-rate", type=float, default=1_000,
                    help="readings/s of the paced feed of the latency runs (well below the "
                         "job's throughput, or the latency measures queueing)")
    ap.add_argument("--live-seconds", type=float, default=60, help="length of the live feed")
    ap.add_argument("--notify", action="store_true",
                    help="latency: the job also notifies a local Alertmanager (the local "
                         "routing) and its webhook receiver; adds reading → receiver latency")
    ap.add_argument("--only", choices=("throughput", "latency"),
                    help="run one half (the JSON then holds only that half)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "pipeline.json"))
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--extra", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        run_phase(args.phase, args.config, args.result, json.loads(args.extra))
        return 0
    sizes = [int(x) for x in args.buildings.split(",")]
    phases = [p for p in args.phases.split(",") if p]
    if unknown := set(phases) - set(PHASES):
        ap.error(f"unknown phase(s): {', '.join(sorted(unknown))}")

    work = Path(tempfile.mkdtemp(prefix="wattstream-bench-"))
    base = Config().replace(
        local={"run_dir": str(work / "stack"), "kafka_port": free_port(),
               "kafka_controller_port": free_port()})
    results = {"machine": common.machine(), "source": source(),
               "when": datetime.now(UTC).isoformat(timespec="seconds"),
               "load_average_start": os.getloadavg(), "readings": args.readings,
               "max_offsets_per_trigger": base.job.max_offsets_per_trigger,
               "kafka_partitions": base.kafka.partitions,
               "shuffle_partitions": base.job.shuffle_partitions, "skip_batches": args.skip_batches,
               "live_rate": args.live_rate, "throughput": [], "latency": []}
    broker = kafka.start(base, work / "stack")
    base = base.replace(kafka={"bootstrap_servers": kafka.bootstrap(base)})
    if args.notify:
        base = base.replace(local={"alertmanager_port": free_port(),
                                   "receiver_port": free_port()})
        alertmanager.start(base, work / "stack")
        # The feed's event time is simulated (weeks back): every alert is news here.
        base = base.replace(notify={"alertmanager_urls": alertmanager.url(base),
                                    "retry_initial_seconds": 0.2, "max_event_age_seconds": 0})
    try:
        for b in sizes if args.only != "latency" else ():
            results["throughput"].append(throughput(base, work, b, args.readings, phases,
                                                    args.skip_batches, broker.pid))
        for b in sizes if args.only != "throughput" else ():
            folder = work / f"live-{b}"
            folder.mkdir(parents=True)
            extra = {"work": str(folder), "args": {"buildings": b, "rate": args.live_rate,
                                                   "seconds": args.live_seconds}}
            if args.notify:
                extra["args"]["notifications"] = str(
                    alertmanager.notifications_file(work / "stack"))
            r = run_child("latency", scale_config(base, folder, f"bench.live{b}", "latency"),
                          folder, broker.pid, extra)["latency"]
            results["latency"].append(r)
            print(f"latency {b}: {r}", flush=True)
    finally:
        broker.stop()
        for svc in alertmanager.services(work / "stack"):
            svc.stop()
        shutil.rmtree(work, ignore_errors=True)
    return common.finish(results, args.out, table)


if __name__ == "__main__":
    sys.exit(main_())
