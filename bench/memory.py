"""Memory of the streaming job's processes, to size its driver and executor pods.

    .venv/bin/python bench/memory.py                            # kind profile and 1 000 buildings
    .venv/bin/python bench/memory.py --scenarios kind,1k,10k    # also 10 000 buildings
    .venv/bin/python bench/memory.py --seconds 60               # shorter feeds
    .venv/bin/python bench/memory.py --scenarios 100k --seconds 1800 --jvm-memory 4g \
        --jvm-options '' --out bench/results/memory-soak.json    # the 30-minute soak

Starts its own single-node broker (through `wattstream.local.kafka.start`) on free ports in a
temporary folder. Per scenario, `wattstream job` runs as a subprocess (local mode, the default
config with the scenario's fleet as `generator.buildings` and `generator.interval_seconds`) and
`wattstream generate realtime` feeds it for `--seconds`. Every second the script reads VmRSS and
VmHWM (the kernel's peak) from /proc/<pid>/status of:

  JVM      the Spark driver JVM. In local mode the executor runs inside it, so this one JVM holds
           what the driver and the executor pods each hold (Kafka consumers, state stores,
           shuffle, planning, UI): the figures bound each pod's JVM from above.
  driver   the Python driver process (`wattstream job`: foreachBatch, toPandas, the window
           engine's state, metrics).
  workers  PySpark Python processes under the JVM (pyspark.daemon and the pyspark.worker processes
           it forks; the job's query runs in the JVM only, so normally none). Forked from one
           daemon they share pages, so the RSS sum over-counts; their Pss sum is recorded too.

The JVM heap (used and committed) comes from `jstat -gc` every second; at the end, Spark's peak
executor metrics (REST API) and the JVM's native memory summary (NMT) are recorded too. The JVM
runs with the kind pod's settings: -Xmx768m (`spark.driver.memory`) and, by default, the
ergonomics of a 1-CPU pod of 1152 MiB (768m + Spark's default 384 MiB overhead): serial GC, a
heap that starts small.

Recommendation, with `--headroom` (30 %) over the measured peaks, rounded up to 64 MiB:
  memory    (spark.driver.memory, spark.executor.memory) = peak heap used, at least 512m
            (Spark refuses a heap under 1.5 × its 300 MiB reserve)
  overhead  (spark.driver.memoryOverhead / spark.executor.memoryOverhead: everything in the pod
            outside the heap) = JVM off-heap + the Python driver (driver pod) or the Python
            workers' RSS sum (executor pod). JVM off-heap = the larger of NMT's non-heap
            committed at the end and the peak of (JVM RSS - heap committed).

Once a minute the job's own figures are scraped next to the memory (open windows, the size of
the saved engine state, Kafka lag, readings processed); a feed of ten minutes or more (a soak)
prints that series and the growth of each figure over the feed's second half, which is about 0
when memory is flat.

Prints a table and writes bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402

from wattstream import waiting  # noqa: E402
from wattstream.config import Config, to_dict  # noqa: E402
from wattstream.local import kafka  # noqa: E402
from wattstream.local.procs import free_port, pid_alive  # noqa: E402

MIB = 1 << 20
# name → (buildings, seconds between a building's readings)
SCENARIOS = {"kind": (10, 1.0), "1k": (1_000, 5.0), "10k": (10_000, 5.0),
             "100k": (100_000, 5.0)}
POD_JVM = "-XX:+UseSerialGC -XX:MaxRAM=1152m"
WORKER_MARKS = ("pyspark.daemon", "pyspark.worker")


# --- /proc -------------------------------------------------------------------------------------

def status(pid: int | None) -> dict[str, int] | None:
    """{"rss", "hwm"} in bytes, or None once the process is gone (or a zombie)."""
    if pid is None:
        return None
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key[2:].lower()] = int(value.split()[0]) * 1024
    return out if len(out) == 2 else None


def pss(pid: int) -> int:
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children() -> dict[int, list[int]]:
    """Parent pid → child pids, for every process."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(") ", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def descendants(kids: dict[int, list[int]], pid: int) -> list[int]:
    out, todo = [], list(kids.get(pid, ()))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, ())
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def is_jvm(pid: int) -> bool:
    """The driver JVM, not the short-lived `java ...launcher.Main` spark-submit runs first."""
    args = cmdline(pid).split()
    return bool(args) and args[0].endswith("/java") and "org.apache.spark.launcher.Main" not in args


# --- sampling ----------------------------------------------------------------------------------

class Jstat:
    """`jstat -gc <pid> 1000` in the background; `last` = the newest line (KiB) by column."""

    def __init__(self, jvm: int):
        tool = Path(os.readlink(f"/proc/{jvm}/exe")).parent / "jstat"
        self.proc = subprocess.Popen([str(tool), "-gc", str(jvm), "1000"], text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.last: dict[str, float] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        header: list[str] = []
        for line in self.proc.stdout:
            cols = line.split()
            if cols and cols[0] == "S0C":
                header = cols
            elif header and len(cols) == len(header):
                # "-" marks what this collector lacks (e.g. concurrent cycles of serial GC).
                self.last = {k: 0.0 if v == "-" else float(v)
                             for k, v in zip(header, cols, strict=True)}

    def heap(self) -> dict[str, int] | None:
        g = self.last
        if not g:
            return None
        kib = 1024
        return {"used": int((g["S0U"] + g["S1U"] + g["EU"] + g["OU"]) * kib),
                "committed": int((g["S0C"] + g["S1C"] + g["EC"] + g["OC"]) * kib),
                "old_used": int(g["OU"] * kib), "gc_seconds": g["GCT"]}

    def ended(self) -> bool:
        return self.proc.poll() is not None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Sampler(threading.Thread):
    """Every `every` seconds: the memory of the job's Python driver, its JVM and the JVM's
    PySpark processes."""

    def __init__(self, driver_pid: int, metrics_port: int, every: float = 1.0):
        super().__init__(daemon=True)
        self.driver, self.every, self.metrics_port = driver_pid, every, metrics_port
        self.minutes: list[dict] = []  # once a minute: memory with the job's own figures
        self.jvm: int | None = None
        self.jstat: Jstat | None = None
        self.samples: list[dict] = []
        self.worker_hwm: dict[int, int] = {}
        self.seen: set[int] = set()
        self.t0 = time.monotonic()
        self.done = threading.Event()

    def run(self) -> None:
        next_minute = self.t0
        while not self.done.is_set():
            self.take()
            if time.monotonic() >= next_minute:
                self.minute()
                next_minute += 60
            self.done.wait(self.every)

    def minute(self) -> None:
        """The last sample with the job's state size, lag and counts at this moment."""
        try:
            m = scrape(self.metrics_port)
        except OSError:
            m = {}
        x = self.samples[-1]
        self.minutes.append({
            "t": x["t"],
            "jvm": round(x["jvm"]["rss"] / MIB, 1) if x["jvm"] else None,
            "heap_used": round(x["heap"]["used"] / MIB, 1) if x["heap"] else None,
            "driver": round(x["driver"]["rss"] / MIB, 1) if x["driver"] else None,
            "open_windows": m.get("wattstream_engine_open_windows"),
            "state_mib": (round(m["wattstream_engine_state_bytes"] / MIB, 2)
                          if "wattstream_engine_state_bytes" in m else None),
            "lag": m.get("wattstream_kafka_lag_records"),
            "processed": m.get("wattstream_readings_processed_total")})

    def take(self) -> None:
        kids = children()
        if self.jvm is None or not status(self.jvm):
            self.jvm = next((p for p in descendants(kids, self.driver) if is_jvm(p)), None)
        # jstat gives up at once if the JVM has not published its counters yet: try again.
        if self.jvm and status(self.jvm) and (self.jstat is None or self.jstat.ended()):
            self.jstat = Jstat(self.jvm)
        workers = {}
        for p in descendants(kids, self.jvm) if self.jvm else ():
            st = status(p)
            if st and any(m in cmdline(p) for m in WORKER_MARKS):
                workers[p] = {**st, "pss": pss(p)}
                self.worker_hwm[p] = st["hwm"]
                self.seen.add(p)
        self.samples.append({"t": round(time.monotonic() - self.t0, 2),
                             "driver": status(self.driver), "jvm": status(self.jvm),
                             "heap": self.jstat.heap() if self.jstat else None,
                             "workers": workers})

    def stop(self) -> None:
        self.done.set()
        self.join(10)
        if self.jstat:
            self.jstat.stop()


# --- the job and its feed ----------------------------------------------------------------------

def job_env(jvm_memory: str, jvm_options: str, ui_port: int) -> dict[str, str]:
    """pyspark passes PYSPARK_SUBMIT_ARGS after the session's own --conf flags: these win."""
    opts = f"-XX:NativeMemoryTracking=summary {jvm_options}".strip()
    args = ["--conf", f"spark.driver.memory={jvm_memory}", "--conf", f"spark.ui.port={ui_port}",
            "--conf", f"spark.driver.extraJavaOptions={opts}", "pyspark-shell"]
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYSPARK_SUBMIT_ARGS": shlex.join(args)}


def wait_for(check, timeout: float, what: str, alive=lambda: True) -> None:
    waiting.wait_until(check, timeout, what, interval=0.5, alive=alive, error=RuntimeError)


def scrape(port: int) -> dict[str, float]:
    """The job's /metrics, summed over labels by sample name."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def spark_peaks(ui_port: int) -> dict:
    """Spark's peak executor metrics of the local executor ("driver"), {} if unreachable."""
    base = f"http://127.0.0.1:{ui_port}/api/v1/applications"
    try:
        app = json.load(urllib.request.urlopen(base, timeout=20))[0]["id"]
        execs = json.load(urllib.request.urlopen(f"{base}/{app}/executors", timeout=20))
    except (OSError, ValueError, IndexError, KeyError):
        return {}
    return execs[0].get("peakMemoryMetrics", {}) if execs else {}


def native_memory(jvm: int) -> dict[str, int]:
    """Committed bytes by NMT category, and "Total"; {} if jcmd fails."""
    tool = Path(os.readlink(f"/proc/{jvm}/exe")).parent / "jcmd"
    try:
        out = subprocess.run([str(tool), str(jvm), "VM.native_memory", "summary"], text=True,
                             capture_output=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = re.findall(r"^(Total: |-\s+([A-Za-z][\w ]*?) \()reserved=\d+KB, committed=(\d+)KB",
                       out, re.M)
    return {name or "Total": int(kib) * 1024 for _, name, kib in found}


def stop_job(job: subprocess.Popen, jvm: int | None) -> None:
    """SIGTERM the job (it stops its queries, then its JVM and the Python workers go); SIGKILL
    the job, and whichever of its JVM and PySpark processes outlive it by 30 s."""
    ours = [jvm, *descendants(children(), jvm)] if jvm else []
    marks = {p: cmdline(p) for p in ours}
    job.send_signal(signal.SIGTERM)
    try:
        job.wait(60)
    except subprocess.TimeoutExpired:
        job.kill()
        job.wait(10)
    deadline = time.monotonic() + 30

    def left(pid: int) -> bool:
        return pid_alive(pid) and cmdline(pid) == marks[pid]

    for pid in ours:
        while left(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        if left(pid):
            os.kill(pid, signal.SIGKILL)


def run_scenario(base: Config, work: Path, name: str, buildings: int, interval: float,
                 args) -> dict:
    folder = work / name
    folder.mkdir()
    cfg = base.replace(
        kafka={"readings_topic": f"mem.{name}", "alerts_topic": f"mem.{name}.alerts",
               "dead_letter_topic": f"mem.{name}.dlq"},
        storage={"uri": (folder / "warehouse").as_uri(),
                 "checkpoint_uri": (folder / "checkpoints").as_uri()},
        metrics={"job_port": free_port(), "generator_port": 0},
        generator={"buildings": buildings, "interval_seconds": interval})
    kafka.create_topics(cfg, cfg.kafka.bootstrap_servers)
    config_file = folder / "wattstream.yaml"
    config_file.write_text(yaml.safe_dump(to_dict(cfg)))
    cli = [sys.executable, "-m", "wattstream", "--config", str(config_file), "--log-level",
           "WARNING"]
    ui_port = free_port()
    load_start = os.getloadavg()
    log_file = folder / "job.log"
    with open(log_file, "wb") as log:
        job = subprocess.Popen([*cli, "job"], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True,
                               env=job_env(args.jvm_memory, args.jvm_options, ui_port))
    sampler = Sampler(job.pid, cfg.metrics.job_port)
    sampler.start()
    try:
        wait_for(lambda: b"[job] reading" in log_file.read_bytes(), 300, "job start",
                 lambda: job.poll() is None)
        started_s = sampler.samples[-1]["t"] if sampler.samples else 0.0
        gen = subprocess.run([*cli, "generate", "realtime", "--duration", f"{args.seconds}s",
                              "--no-progress"], capture_output=True, text=True)
        if gen.returncode != 0:
            raise RuntimeError(f"generator failed: {gen.stderr[-2000:]}")
        fed = json.loads(gen.stdout.strip().splitlines()[-1])
        # Let the job catch up (still sampling): every reading taken in or quarantined.
        metrics: dict[str, float] = {}
        deadline = time.monotonic() + args.drain

        def caught_up() -> bool:
            nonlocal metrics
            try:
                metrics = scrape(cfg.metrics.job_port)
            except OSError:
                return False
            done = (metrics.get("wattstream_readings_processed_total", 0)
                    + metrics.get("wattstream_quarantined_total", 0))
            return done >= fed["acknowledged"] or time.monotonic() > deadline

        wait_for(caught_up, args.drain + 30, "job catching up", lambda: job.poll() is None)
        peaks = spark_peaks(ui_port)
        nmt = native_memory(sampler.jvm) if sampler.jvm else {}
    except Exception:
        print(log_file.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        sampler.stop()
        stop_job(job, sampler.jvm)
    return {"scenario": name, "buildings": buildings, "interval_seconds": interval,
            "feed_seconds": fed["seconds"], "readings_fed": fed["acknowledged"],
            "readings_per_s": fed["acknowledged"] / fed["seconds"],
            "readings_processed": metrics.get("wattstream_readings_processed_total", 0),
            "readings_quarantined": metrics.get("wattstream_quarantined_total", 0),
            "lag_at_end": metrics.get("wattstream_kafka_lag_records"),
            "job_ready_after_s": started_s, "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
            **summarise(sampler, peaks, nmt), "minutes": sampler.minutes,
            "drift": drift(sampler.minutes, started_s)}


# --- figures -----------------------------------------------------------------------------------

def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.95 * len(xs)))] if xs else 0.0


def summarise(s: Sampler, peaks: dict, nmt: dict[str, int]) -> dict:
    """Peaks and p95 in MiB. A process's peak is the larger of its sampled RSS and its VmHWM."""
    def mib(x: float) -> float:
        return round(x / MIB, 1)

    def proc(key: str) -> dict:
        seen = [x[key] for x in s.samples if x[key]]
        rss = [x["rss"] for x in seen]
        peak = max([*rss, *(x["hwm"] for x in seen)], default=0)
        return {"peak": mib(peak), "p95": mib(p95(rss))}

    sums = [sum(w["rss"] for w in x["workers"].values()) for x in s.samples]
    pss_sums = [sum(w["pss"] for w in x["workers"].values()) for x in s.samples]
    heaps = [x["heap"] for x in s.samples if x["heap"]]
    # NMT's own bookkeeping is not there in a pod.
    nmt_self = nmt.get("Native Memory Tracking", 0)
    off = [x["jvm"]["rss"] - x["heap"]["committed"] - nmt_self for x in s.samples
           if x["jvm"] and x["heap"]]
    nmt_heap = nmt.get("Java Heap", 0) + nmt_self
    return {
        "samples": len(s.samples),
        "jvm": proc("jvm"),
        "python_driver": proc("driver"),
        "workers_sum": {"peak": mib(max(sums, default=0)), "p95": mib(p95(sums))},
        "workers_pss_sum": {"peak": mib(max(pss_sums, default=0)), "p95": mib(p95(pss_sums))},
        "worker_max": mib(max(s.worker_hwm.values(), default=0)),
        "worker_processes": len(s.seen),
        "workers_at_once": max((len(x["workers"]) for x in s.samples), default=0),
        "heap_used": {"peak": mib(max([h["used"] for h in heaps] or [0])),
                      "p95": mib(p95([h["used"] for h in heaps]))},
        "heap_committed_peak": mib(max([h["committed"] for h in heaps] or [0])),
        "old_gen_used_end": mib(heaps[-1]["old_used"]) if heaps else None,
        "gc_seconds": heaps[-1]["gc_seconds"] if heaps else None,
        "jvm_offheap_peak": mib(max(off, default=0)),
        "nmt_committed": {k: mib(v) for k, v in nmt.items()},
        "nmt_nonheap": mib(nmt.get("Total", 0) - nmt_heap) if nmt else None,
        "spark_peak_metrics": {k: mib(v) if "Memory" in k else v for k, v in peaks.items()},
        "series": [{"t": x["t"],
                    "jvm": mib(x["jvm"]["rss"]) if x["jvm"] else None,
                    "driver": mib(x["driver"]["rss"]) if x["driver"] else None,
                    "workers": mib(sum(w["rss"] for w in x["workers"].values())),
                    "heap_used": mib(x["heap"]["used"]) if x["heap"] else None}
                   for x in s.samples],
    }


def drift(minutes: list[dict], fed_from: float) -> dict:
    """Growth over the second half of the feed, MiB per 10 minutes (least-squares slope of the
    per-minute figures): near 0 once the open windows have filled, i.e. memory is flat."""
    def slope(key: str) -> float | None:
        pts = [(m["t"], m[key]) for m in minutes if m["t"] >= fed_from and m[key] is not None]
        pts = pts[len(pts) // 2:]
        if len(pts) < 3:
            return None
        n = len(pts)
        mt, mv = sum(t for t, _ in pts) / n, sum(v for _, v in pts) / n
        var = sum((t - mt) ** 2 for t, _ in pts)
        return round(600 * sum((t - mt) * (v - mv) for t, v in pts) / var, 1) if var else None

    return {k: slope(k) for k in ("jvm", "heap_used", "driver", "state_mib")}


def minutes_table(r: dict) -> str:
    lines = [f"{r['scenario']}, once a minute (MiB; state = the engine's saved state):",
             "| min | JVM RSS | heap used | Py driver | open windows | state | lag | processed |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def f(x, fmt=",.0f"):
        return "–" if x is None else format(x, fmt)

    for m in r["minutes"]:
        lines.append(f"| {m['t'] / 60:.0f} | {f(m['jvm'])} | {f(m['heap_used'])} | "
                     f"{f(m['driver'])} | {f(m['open_windows'])} | {f(m['state_mib'], '.1f')} | "
                     f"{f(m['lag'])} | {f(m['processed'])} |")
    d = r["drift"]
    lines.append("growth over the feed's second half, MiB per 10 min: " + ", ".join(
        f"{k} {f(v, '+.1f')}" for k, v in d.items()))
    return "\n".join(lines)


def up64(mib: float) -> int:
    return int(math.ceil(mib / 64) * 64)


def recommend(r: dict, headroom: float) -> dict:
    """MiB for each pod: JVM heap (memory) and everything else in the pod (overhead)."""
    heap = max(r["heap_used"]["peak"], r["spark_peak_metrics"].get("JVMHeapMemory", 0))
    offheap = max(r["jvm_offheap_peak"], r["nmt_nonheap"] or 0)
    memory = max(512, up64(headroom * heap))
    return {"heap_peak": heap, "jvm_offheap": offheap,
            "driver_memory": memory,
            "driver_overhead": up64(headroom * (offheap + r["python_driver"]["peak"])),
            "executor_memory": memory,
            "executor_overhead": up64(headroom * (offheap + r["workers_sum"]["peak"]))}


def machine() -> dict:
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    return {**common.machine(), "java": java.splitlines()[0] if java else "?"}


def table(res: dict) -> str:
    m = res["machine"]
    lines = [f"machine: {m['cpus']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['java']}; "
             f"JVM {res['jvm_memory']} heap, options {res['jvm_options']!r}; "
             f"{res['seconds']} s feed per scenario; MiB",
             "JVM = driver and executor in one (local mode); workers = PySpark daemon + workers",
             "",
             "| scenario | buildings | readings/s fed | processed | load avg | JVM peak | JVM p95 "
             "| heap peak | Py driver peak | Py driver p95 | workers Σ peak | workers Σ p95 "
             "| max worker | worker procs (Pss Σ peak) |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["scenarios"]:
        load = f"{r['load_average_start'][0]:.1f}→{r['load_average_end'][0]:.1f}"
        lines.append(
            f"| {r['scenario']} | {r['buildings']:,} | {r['readings_per_s']:,.0f} | "
            f"{r['readings_processed']:,.0f}/{r['readings_fed']:,} | {load} | "
            f"{r['jvm']['peak']:.0f} | {r['jvm']['p95']:.0f} | "
            f"{r['recommendation']['heap_peak']:.0f} | {r['python_driver']['peak']:.0f} | "
            f"{r['python_driver']['p95']:.0f} | {r['workers_sum']['peak']:.0f} | "
            f"{r['workers_sum']['p95']:.0f} | {r['worker_max']:.0f} | "
            f"{r['workers_at_once']} ({r['workers_pss_sum']['peak']:.0f}) |")
    lines.append("")
    pct = round((res["headroom"] - 1) * 100)
    for r in res["scenarios"]:
        c = r["recommendation"]
        lines.append(
            f"recommended ({r['scenario']}, +{pct} %, JVM off-heap {c['jvm_offheap']:.0f}): "
            f"spark.driver.memory={c['driver_memory']}m "
            f"spark.driver.memoryOverhead={c['driver_overhead']}m "
            f"(pod {c['driver_memory'] + c['driver_overhead']} MiB); "
            f"spark.executor.memory={c['executor_memory']}m "
            f"spark.executor.memoryOverhead={c['executor_overhead']}m "
            f"(pod {c['executor_memory'] + c['executor_overhead']} MiB)")
    lines.append("today (values-kind.yaml): 768m + Spark's default overhead max(384 MiB, "
                 "0.4 × 768m) = 1152 MiB per pod")
    for r in res["scenarios"]:
        if r["feed_seconds"] >= 600:  # a soak: the series shows whether memory is flat
            lines += ["", minutes_table(r)]
    return "\n".join(lines)


def scenario(text: str) -> tuple[str, int, float]:
    """`kind`, `1k`, `10k`, or BUILDINGSxINTERVAL such as `500x2`."""
    if text in SCENARIOS:
        return (text, *SCENARIOS[text])
    m = re.fullmatch(r"(\d+)x(\d+(?:\.\d+)?)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: expected one of {', '.join(SCENARIOS)} "
                                         f"or BUILDINGSxINTERVAL (e.g. 500x2)")
    return (text, int(m.group(1)), float(m.group(2)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default="kind,1k",
                    help="comma list of kind (10 buildings, 1 s), 1k (1 000, 5 s), 10k "
                         "(10 000, 5 s), 100k (100 000, 5 s) or BUILDINGSxINTERVAL "
                         "(default: %(default)s)")
    ap.add_argument("--seconds", type=int, default=180, help="feed per scenario (wall time)")
    ap.add_argument("--drain", type=float, default=30,
                    help="at most this long for the job to catch up after the feed")
    ap.add_argument("--jvm-memory", default="768m", help="spark.driver.memory (the JVM heap)")
    ap.add_argument("--jvm-options", default=POD_JVM,
                    help="extra JVM options; the default gives the JVM the ergonomics of a "
                         "1-CPU 1152 MiB pod; '' keeps this machine's")
    ap.add_argument("--headroom", type=float, default=1.3, help="factor over measured peaks")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "memory.json"))
    args = ap.parse_args()
    todo = [scenario(s.strip()) for s in args.scenarios.split(",") if s.strip()]

    work = Path(tempfile.mkdtemp(prefix="wattstream-bench-"))
    base = Config().replace(local={"run_dir": str(work / "stack"), "kafka_port": free_port(),
                                   "kafka_controller_port": free_port()})
    broker = kafka.start(base, work / "stack")
    base = base.replace(kafka={"bootstrap_servers": kafka.bootstrap(base)})
    res = {"machine": machine(), "when": datetime.now(UTC).isoformat(timespec="seconds"),
           "seconds": args.seconds, "jvm_memory": args.jvm_memory,
           "jvm_options": args.jvm_options, "headroom": args.headroom, "scenarios": []}
    try:
        for name, buildings, interval in todo:
            print(f"{name}: {buildings:,} buildings every {interval:g} s for {args.seconds} s",
                  flush=True)
            r = run_scenario(base, work, name, buildings, interval, args)
            r["recommendation"] = recommend(r, args.headroom)
            res["scenarios"].append(r)
            print(f"  JVM peak {r['jvm']['peak']:.0f} MiB, Python driver "
                  f"{r['python_driver']['peak']:.0f} MiB, workers Σ "
                  f"{r['workers_sum']['peak']:.0f} MiB", flush=True)
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print()
    print(table(res))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
