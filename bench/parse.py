"""Throughput of the parse stage alone: Kafka value bytes → reading columns and `error`.

    .venv/bin/python bench/parse.py                        # 1 M readings, memory and Kafka
    .venv/bin/python bench/parse.py --readings 200000 --no-kafka --rounds 2   # quick
    .venv/bin/python bench/parse.py --profile              # plus a JFR profile of the new parse

Three variants on the same readings, each into Spark's `noop` sink:

- `floor`: plain `from_json` with the reading's fixed schema (`schema.spark_schema()`), no checks;
- `old`: `parse.py` as it was before the fast route (`--old-rev`, read from git);
- `new`: the current `parse.decode`, as the job runs it;
- with `--ablate`, `new without <check>`: the new parse without one of its fast-route checks
  (`parse.FAST_CHECKS`) or without the exact route, for what each costs.

Inputs: the generator's encoding of simulated readings (`Simulator` + `Encoder`, no anomalies),
held in memory (cached, the parse isolated), the same with 1 % of them broken (the exact route's
share of the cost), and once from a local Kafka broker (topic written by kafka-python, read by
the job's own Kafka source with Trigger.AvailableNow: the real path). Each variant's plan is
built once and warmed up (the job re-runs one plan every micro-batch), then timed.

Rates are readings / wall time; on a shared machine the JVM's CPU time per reading (user +
system, from /proc) is the steadier figure. The load averages are printed next to them.
Prints a table and writes bench/results/parse.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402

from wattstream import schema  # noqa: E402
from wattstream import spark as session  # noqa: E402
from wattstream.config import Config  # noqa: E402
from wattstream.generator.fleet import building_ids  # noqa: E402
from wattstream.generator.simulate import Simulator  # noqa: E402
from wattstream.job import main, parse  # noqa: E402
from wattstream.local import kafka  # noqa: E402
from wattstream.local.procs import free_port  # noqa: E402

# The last parse.py before the fast route.
OLD_REV = "96c838db19392180d06745148a7d0c6f86e62872"
T0 = datetime(2026, 1, 5, tzinfo=UTC)
COLUMNS = ("value", "topic", "partition", "offset")


def readings(n: int, buildings: int = 1000) -> list[bytes]:
    """`n` readings as the generator encodes them: one per building every 5 s."""
    sim = Simulator(building_ids("bench", buildings), seed=42, replica="bench")
    out: list[bytes] = []
    k = 0
    while len(out) < n:
        out += sim.encoder.encode(sim.step(k, T0 + timedelta(seconds=5 * k), 5.0))
        k += 1
    return out[:n]


def broken(rng: random.Random, payload: bytes) -> bytes:
    """One of the ways a producer gets a reading wrong."""
    d = json.loads(payload)
    match rng.randrange(5):
        case 0:
            return payload[: rng.randrange(1, len(payload))]
        case 1:
            d["energy_kwh"] = str(d["energy_kwh"])
        case 2:
            del d[rng.choice(schema.FIELD_NAMES)]
        case 3:
            d["timestamp"] = d["timestamp"].rstrip("Z")
        case _:
            d["hour"] = 24
    return json.dumps(d).encode()


def old_parse(rev: str):
    """parse.py at `rev` as a module of the job package (its relative imports resolve)."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/wattstream/job/parse.py"],
                          check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("wattstream.job._parse_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(text, f"parse.py@{rev[:7]}", "exec"), module.__dict__)  # noqa: S102
    return module


def variants(old) -> dict:
    from pyspark.sql import functions as F

    def floor(src):
        j = F.from_json(F.col("value").cast("string"), schema.spark_schema())
        return src.select(*COLUMNS, j.alias("j")).select(*COLUMNS, "j.*")

    return {
        "floor": floor,
        "old": lambda src: old.valid_event_time(old.decode(src)),
        "new": lambda src: parse.decode(src),
    }


class JvmCpu:
    """CPU seconds (user + system) of the local-mode JVM, which runs driver and executors."""

    def __init__(self, spark):
        self.stat = Path(f"/proc/{spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()}"
                         "/stat")

    def __call__(self) -> float:
        if not self.stat.exists():
            return float("nan")
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(run, n: int, cpu: JvmCpu) -> dict:
    c, t = cpu(), time.perf_counter()
    run()
    wall, c = time.perf_counter() - t, cpu() - c
    return {"readings_per_s": n / wall, "cpu_us_per_reading": 1e6 * c / n, "seconds": wall,
            "load_1m": os.getloadavg()[0]}


def summary(runs: list[dict]) -> dict:
    return {"readings_per_s": max(r["readings_per_s"] for r in runs),
            "readings_per_s_median": statistics.median(r["readings_per_s"] for r in runs),
            "cpu_us_per_reading": min(r["cpu_us_per_reading"] for r in runs),
            "runs": runs}


def ablations() -> dict:
    """The new parse without one fast-route check (`parse.FAST_CHECKS`) or without the exact
    route each: its CPU against `new` is what that check costs. Not the contract's parse (a
    message a left-out check would refuse is taken as it reads)."""
    return {f"new without {name}": (lambda src, name=name: parse._routes(
        src, "", without=frozenset([name])).drop("_fast"))
        for name in (*parse.FAST_CHECKS, "exact")}


def memory_bench(spark, payloads: list[bytes], fns: dict, rounds: int, cpu: JvmCpu) -> dict:
    """Each variant over a cached DataFrame of the payloads, interleaved round by round."""
    src = spark.createDataFrame([(p, "bench", 0, i) for i, p in enumerate(payloads)],
                                "value binary, topic string, partition int, offset long")
    src = src.repartition(spark.sparkContext.defaultParallelism * 2).cache()
    src.count()
    frames = {name: fn(src) for name, fn in fns.items()}
    for df in frames.values():  # code generation and JIT
        df.write.format("noop").mode("overwrite").save()
    runs: dict[str, list] = {name: [] for name in frames}
    for _ in range(rounds):
        for name, df in frames.items():
            runs[name].append(timed(lambda df=df: df.write.format("noop").mode("overwrite")
                                    .save(), len(payloads), cpu))
    src.unpersist()
    return {name: summary(r) for name, r in runs.items()}


def verdicts(spark, payloads: list[bytes], fns: dict) -> dict:
    """Readings valid and rejected per reason, by variant (old and new must agree)."""
    src = spark.createDataFrame([(p, "bench", 0, i) for i, p in enumerate(payloads)],
                                "value binary, topic string, partition int, offset long")
    out = {}
    for name in ("old", "new"):
        rows = fns[name](src).groupBy("error.reason").count().collect()
        out[name] = dict(Counter({r.reason or "valid": r["count"] for r in rows}))
    return out


def kafka_bench(spark, cfg: Config, work: Path, payloads: list[bytes], fns: dict, rounds: int,
                cpu: JvmCpu) -> dict:
    """Each variant reads the whole topic through the job's Kafka source (AvailableNow)."""
    from kafka import KafkaProducer

    kafka.create_topics(cfg, cfg.kafka.bootstrap_servers)
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, linger_ms=20,
                      batch_size=512 * 1024, acks=1)
    t = time.perf_counter()
    for v in payloads:
        p.send(cfg.kafka.readings_topic, value=v)
    p.flush(300)
    p.close()
    produce_s = time.perf_counter() - t

    def query(name: str, i: int):
        df = fns[name](main.kafka_source(spark, cfg))
        q = (df.writeStream.format("noop").trigger(availableNow=True)
             .option("checkpointLocation", str(work / f"checkpoint-{name}-{i}")).start())
        q.awaitTermination()
        if q.exception():
            raise RuntimeError(f"{name}: {q.exception()}")
        read = sum(pr["numInputRows"] for pr in q.recentProgress)
        if read != len(payloads):
            raise RuntimeError(f"{name}: read {read} of {len(payloads)} readings")

    query("floor", -1)  # the Kafka source's code warmed up, not timed
    runs: dict[str, list] = {name: [] for name in fns}
    for i in range(rounds):
        for name in fns:
            runs[name].append(timed(lambda name=name, i=i: query(name, i), len(payloads), cpu))
    return {"produce_readings_per_s": len(payloads) / produce_s,
            "partitions": cfg.kafka.partitions,
            **{name: summary(r) for name, r in runs.items()}}


def profile(spark, payloads: list[bytes], fn, work: Path) -> dict:
    """Share of the executor threads' JFR samples by kind of work, for one variant."""
    pid = str(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    src = spark.createDataFrame([(p, "bench", 0, i) for i, p in enumerate(payloads)],
                                "value binary, topic string, partition int, offset long")
    src = src.repartition(spark.sparkContext.defaultParallelism * 2).cache()
    src.count()
    df = fn(src)
    df.write.format("noop").mode("overwrite").save()
    out = work / "parse.jfr"
    subprocess.run(["jcmd", pid, "JFR.start", "name=parse", "settings=profile",
                    f"filename={out}"], check=True, capture_output=True)
    df.write.format("noop").mode("overwrite").save()
    subprocess.run(["jcmd", pid, "JFR.stop", "name=parse"], check=True, capture_output=True)
    src.unpersist()
    events = json.loads(subprocess.run(
        ["jfr", "print", "--json", "--stack-depth", "64", "--events", "jdk.ExecutionSample",
         str(out)], check=True, capture_output=True, text=True).stdout)["recording"]["events"]
    kinds = {  # first match wins, looking at the innermost frames
        "JSON (from_json, Jackson)": ("JsonToStructs", "jackson", "StreamDecoder"),
        "VARIANT (parse_json, variant_get, schema_of_variant)": ("variant", "Variant"),
        "regular expressions": ("java/util/regex",),
        "exact route (lambdas)": ("ArrayAggregate", "LambdaVariable"),
        "UTF-8 and byte checks": ("UTF8String",),
        "timestamp cast": ("DateTimeUtils",),
        "rows (read, write, copy)": ("UnsafeRow", "UnsafeWriter", "Platform", "copyMemory"),
    }
    counts: Counter = Counter()
    for e in events:
        thread = e["values"]["sampledThread"].get("javaName") or ""
        frames = e["values"]["stackTrace"]["frames"]
        if "Executor task" not in thread or not frames:
            continue
        names = [f["method"]["type"]["name"] + "." + f["method"]["name"] for f in frames[:8]]
        kind = next((k for k, keys in kinds.items()
                     if any(key in nm for nm in names for key in keys)), "other")
        counts[kind] += 1
    total = sum(counts.values())
    return {"samples": total, **{k: counts[k] / total for k in [*kinds, "other"] if total}}


def progress(results: dict) -> None:
    label, res = list(results["inputs"].items())[-1]
    print(f"{label}: " + ", ".join(
        f"{name} {x['readings_per_s']:,.0f}/s {x['cpu_us_per_reading']:.2f} µs"
        for name, x in res.items() if isinstance(x, dict)) + f"; load {os.getloadavg()[0]:.2f}",
        flush=True)


def table(r: dict) -> str:
    lines = [f"machine: {common.describe(r['machine'])}; load average "
             f"{r['load_average_start'][0]:.2f} at start, "
             f"{r['load_average_end'][0]:.2f} at end; old = parse.py at {r['old_rev'][:7]}", "",
             "| input | variant | readings/s (best) | readings/s (median) | JVM CPU µs/reading | "
             "CPU vs floor |", "|---|---|---:|---:|---:|---:|"]
    for label, res in r["inputs"].items():
        floor = res["floor"]["cpu_us_per_reading"]
        for name in [n for n in res if n in ("floor", "old", "new") or n.startswith("new ")]:
            x = res[name]
            lines.append(f"| {label} | {name} | {x['readings_per_s']:,.0f} | "
                         f"{x['readings_per_s_median']:,.0f} | {x['cpu_us_per_reading']:.2f} | "
                         f"{x['cpu_us_per_reading'] / floor:.2f}× |")
    if "verdicts" in r:
        lines += ["", f"verdicts on the 1 % broken input: {json.dumps(r['verdicts'])}"]
    if "profile" in r:
        p = r["profile"]
        shares = ", ".join(f"{k} {v:.0%}" for k, v in p.items() if k != "samples")
        lines += ["", f"JFR profile of `new` on clean readings ({p['samples']} samples): {shares}"]
    return "\n".join(lines)


def main_(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--kafka-readings", type=int, help="default: --readings")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs per variant and input")
    ap.add_argument("--no-kafka", action="store_true", help="memory inputs only")
    ap.add_argument("--profile", action="store_true", help="JFR profile of the new parse")
    ap.add_argument("--ablate", action="store_true",
                    help="also time the new parse without each fast-route check (and without "
                         "the exact route): what each costs (memory inputs only)")
    ap.add_argument("--old-rev", default=OLD_REV, help="git revision of the old parse.py")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "parse.json"))
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="wattstream-bench-parse-"))
    cfg = Config().replace(
        local={"run_dir": str(work / "stack"), "kafka_port": free_port(),
               "kafka_controller_port": free_port()},
        kafka={"readings_topic": "bench.parse"},
        job={"max_offsets_per_trigger": 10_000_000, "starting_offsets": "earliest"})
    broker = None
    spark = session.build(cfg, app_name="wattstream-bench-parse", ui=False)
    spark.sparkContext.setLogLevel("ERROR")
    cpu = JvmCpu(spark)
    fns = variants(old_parse(args.old_rev))
    if args.ablate:
        fns.update(ablations())
    clean = readings(args.readings)
    rng = random.Random(1)
    mixed = [broken(rng, p) if rng.random() < 0.01 else p for p in clean]
    results = {"machine": common.machine(),
               "when": datetime.now(UTC).isoformat(timespec="seconds"),
               "old_rev": args.old_rev, "readings": len(clean), "rounds": args.rounds,
               "load_average_start": os.getloadavg(), "inputs": {}}
    try:
        results["inputs"]["memory, generator readings"] = memory_bench(
            spark, clean, fns, args.rounds, cpu)
        progress(results)
        results["inputs"]["memory, 1 % broken"] = memory_bench(spark, mixed, fns, args.rounds,
                                                               cpu)
        progress(results)
        results["verdicts"] = verdicts(spark, mixed[:200_000], fns)
        if results["verdicts"]["old"] != results["verdicts"]["new"]:
            raise RuntimeError(f"old and new disagree: {results['verdicts']}")
        for name in [n for n in fns if n.startswith("new ")]:
            del fns[name]  # not the contract's parse: timed, never read through Kafka
        if not args.no_kafka:
            broker = kafka.start(cfg, work / "stack")
            cfg = cfg.replace(kafka={"bootstrap_servers": kafka.bootstrap(cfg)})
            n = args.kafka_readings or args.readings
            results["inputs"]["Kafka, generator readings"] = kafka_bench(
                spark, cfg, work, clean[:n] if n <= len(clean) else readings(n), fns,
                max(1, args.rounds - 1), cpu)
            progress(results)
        if args.profile:
            results["profile"] = profile(spark, clean, fns["new"], work)
    finally:
        spark.stop()
        if broker is not None:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return common.finish(results, args.out, table)


if __name__ == "__main__":
    sys.exit(main_())
