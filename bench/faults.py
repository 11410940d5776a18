"""The fault matrix with long outages: a realtime generator and the job run while the broker or
the NameNode is away for minutes; what it costs.

    .venv/bin/python bench/faults.py [--outages 300,900] [--services kafka,namenode]
                                     [--buildings 1000] [--interval 5]

Each case starts its own broker (and HDFS for the namenode case) on free ports in a temporary
folder (tests/faultkit.py), `wattstream job` and `wattstream generate realtime` as processes,
waits for the job to run, stops the service for the outage, starts it again, and measures:

- recovery: from the service's return to the job's next completed batch
  (`wattstream_job_last_batch_timestamp_seconds`), target p95 <= 30 s;
- alerts delayed: alerts raised more than 10 s after their crossing reading;
- readings spooled and acknowledged (the generator's summary), lost = acknowledged readings
  not in exactly one final window (target 0), duplicate windows and alerts (target 0);
- peak resident memory of the generator and of the job (its JVM included) during the outage.

Prints a table and writes bench/results/faults.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from faultkit import PrivateHdfs, PrivateKafka, topic_values  # noqa: E402

from wattstream import layout  # noqa: E402
from wattstream.config import Config, to_dict  # noqa: E402
from wattstream.local.procs import free_port, wait_until  # noqa: E402

DELAYED_S = 10.0


def _rss_tree(pid: int) -> int:
    """Resident bytes of a process and all its descendants (/proc)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        with contextlib.suppress(OSError):  # the process ended meanwhile
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def _metrics(port: int) -> dict:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _spark_read(cfg: Config, name: str) -> pd.DataFrame:
    from wattstream import spark as session

    spark = session.build(cfg, app_name="bench-faults-read", ui=False)
    try:
        return spark.read.parquet(layout.data(cfg, name)).toPandas()
    except Exception:  # noqa: BLE001 - nothing written
        return pd.DataFrame()


def run_case(service: str, outage_s: float, buildings: int, interval: float, tmp: Path) -> dict:
    broker = PrivateKafka(tmp / "kafka")
    hdfs = PrivateHdfs(tmp / "hdfs") if service == "namenode" else None
    procs: list[subprocess.Popen] = []
    try:
        root = f"{hdfs.uri}/bench" if hdfs else tmp.as_uri()
        cfg = broker.cfg.replace(
            storage={"uri": f"{root}/warehouse", "checkpoint_uri": f"{root}/checkpoints"},
            metrics={"job_port": free_port(), "generator_port": free_port()},
            local={"run_dir": str(tmp / "run")})
        broker.create_topics(cfg)
        cfg_file = tmp / "wattstream.yaml"
        cfg_file.write_text(yaml.safe_dump(to_dict(cfg)))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        base = [sys.executable, "-m", "wattstream", "--config", str(cfg_file)]
        job = subprocess.Popen([*base, "job"], stdout=open(tmp / "job.log", "wb"),  # noqa: SIM115
                               stderr=subprocess.STDOUT, start_new_session=True, env=env)
        procs.append(job)
        port = cfg.metrics.job_port

        def state() -> str | None:
            m = _metrics(port)
            return next((dict(k[1])["state"] for k, v in m.items()
                         if k[0] == "wattstream_job_state" and v == 1), None)

        wait_until(lambda: state() == "running", 300, "job running", interval=1,
                   alive=lambda: job.poll() is None)
        summary_file = tmp / "summary.json"
        gen = subprocess.Popen(
            [*base, "generate", "realtime", "--buildings", str(buildings), "--interval",
             str(interval), "--anomalies", "none", "--summary", str(summary_file)],
            stdout=open(tmp / "generator.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
            start_new_session=True, env=env)
        procs.append(gen)

        def last_batch() -> float:
            return _metrics(port).get(("wattstream_job_last_batch_timestamp_seconds", ()), 0)

        wait_until(lambda: _metrics(port).get(("wattstream_readings_processed_total", ()), 0)
                   > 0, 300, "readings processed", interval=1)
        time.sleep(30)  # noqa: B018 - a steady state before the outage (a bench, not a test)
        peak = {"generator": 0, "job": 0}
        (broker.stop if service == "kafka" else hdfs.namenode.stop)()
        t_down = time.time()
        while time.time() - t_down < outage_s:
            peak["generator"] = max(peak["generator"], _rss_tree(gen.pid))
            peak["job"] = max(peak["job"], _rss_tree(job.pid))
            time.sleep(5)
        (broker.start if service == "kafka" else hdfs.start_namenode)()
        t_up = time.time()
        wait_until(lambda: last_batch() > t_up, 600, "a batch after the return", interval=0.5,
                   alive=lambda: job.poll() is None)
        recovery = last_batch() - t_up
        restarts = sum(v for k, v in _metrics(port).items()
                       if k[0] == "wattstream_job_restarts_total")
        time.sleep(30)  # noqa: B018 - the backlog drains while readings keep coming
        gen.send_signal(signal.SIGTERM)
        gen.wait(600)
        summary = json.loads(summary_file.read_text())
        readings = topic_values(cfg, cfg.kafka.readings_topic, timeout=300)
        last = max(pd.Timestamp(r["timestamp"]) for r in readings)
        from jobkit import produce, reading

        produce(cfg, [reading("closer", (last + timedelta(hours=1)).to_pydatetime(), 0.1)])
        want = {(r["building_id"], pd.Timestamp(r["timestamp"]).floor("300s")) for r in readings}
        windows_seen = [0]

        def all_windows() -> bool:
            w = _spark_read(cfg, "windows")
            windows_seen[0] = 0 if w.empty else int((w["building_id"] != "closer").sum())
            return windows_seen[0] >= len(want)

        wait_until(all_windows, 600, "every final window", interval=10)
        w = _spark_read(cfg, "windows")
        w = w[w["building_id"] != "closer"]
        alerts = _spark_read(cfg, "alerts")
        sent = [a["alert_id"] for a in topic_values(cfg, cfg.kafka.alerts_topic)]
        delayed = 0
        if len(alerts):
            lag = (pd.to_datetime(alerts["raised_at"]) - pd.to_datetime(alerts["event_time"]))
            delayed = int((lag.dt.total_seconds() > DELAYED_S).sum())
        acked = summary.get("acknowledged", 0)
        return {
            "service": service, "outage_s": outage_s, "buildings": buildings,
            "recovery_s": round(recovery, 1), "restarts": restarts,
            "alerts": len(alerts), "alerts_delayed": delayed,
            "produced": summary.get("produced", summary.get("sent")), "acknowledged": acked,
            "spooled_max": summary.get("spooled_max", summary.get("spooled", 0)),
            "in_topic": len(readings),
            "lost": int(summary.get("produced", summary.get("sent", 0)) - acked
                        - summary.get("spooled", 0)),
            "in_windows": int(w["readings"].sum()),
            "not_in_one_window": int(len(readings) - w["readings"].sum()),
            "duplicate_windows": int(w.duplicated(["building_id", "window_start"]).sum()),
            "duplicate_alerts": int(len(sent) - len(set(sent))),
            "peak_rss_mib": {k: round(v / 2**20) for k, v in peak.items()},
            "job_alive": job.poll() is None,
        }
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
        if hdfs:
            hdfs.close()
        broker.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outages", default="300,900", help="outage lengths, seconds")
    ap.add_argument("--services", default="kafka,namenode")
    ap.add_argument("--buildings", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "faults.json"))
    args = ap.parse_args()
    rows = []
    for service in args.services.split(","):
        for outage in (float(x) for x in args.outages.split(",")):
            with tempfile.TemporaryDirectory(prefix="wattstream-faults-") as tmp:
                print(f"== {service} down {outage:.0f} s", flush=True)
                rows.append(run_case(service, outage, args.buildings, args.interval,
                                     Path(tmp)))
                print(json.dumps(rows[-1]), flush=True)
    cols = ["service", "outage_s", "recovery_s", "restarts", "alerts_delayed", "spooled_max",
            "lost", "not_in_one_window", "duplicate_windows", "duplicate_alerts"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols), "| rss", r["peak_rss_mib"])
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                               "cores": os.cpu_count(), "cases": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
