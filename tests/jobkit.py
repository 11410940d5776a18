"""Helpers of the job tests: produce and consume with kafka-python, run the queries."""

from __future__ import annotations

# The crossing readings come from a second job over the cached batch, or from the same pass as
# the sums (every batch, as none may exceed the in-pass limit): both must give the same alerts.
CROSSING_PATHS = {"second-job": {"crossing_in_pass_max_readings": 0},
                  "in-pass": {"crossing_in_pass_max_readings": 1000,
                              "max_offsets_per_trigger": 1000}}


# --- producing readings straight to Kafka (independent of the generator) -------------------

def reading(building: str, ts, energy: float, temperature: float = 20.0,
            humidity: float | None = 50.0, occupancy: int | None = 10) -> dict:
    from wattstream.schema import format_timestamp

    return {"timestamp": format_timestamp(ts), "building_id": building,
            "energy_kwh": round(energy, 3), "temperature": temperature, "humidity": humidity,
            "occupancy": occupancy, "day_of_week": ts.weekday(), "hour": ts.hour}


def produce(cfg, messages, partition=None) -> list[float]:
    """Send dicts (as JSON) or raw bytes, keyed by building; return each send's wall time."""
    import json
    import time

    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, linger_ms=5)
    sent = []
    try:
        for m in messages:
            value = m if isinstance(m, bytes) else json.dumps(m).encode()
            key = m["building_id"].encode() if isinstance(m, dict) else b"raw"
            sent.append(time.time())
            producer.send(cfg.kafka.readings_topic, value=value, key=key, partition=partition)
        producer.flush(30)
    finally:
        producer.close()
    return sent


def consume(cfg, topic: str, expected: int | None = None, timeout: float = 20.0) -> list:
    """All records of a topic (waiting until `expected` arrived, if given)."""
    import time

    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=cfg.kafka.bootstrap_servers,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=1500)
    records = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            records += list(consumer)
            if expected is None or len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


def run_available_now(spark, cfg, metrics=None, timeout: float = 180.0):
    """Run every query of the job on what is in the topic now, until each has caught up."""
    from wattstream.job import main
    from wattstream.job.metrics import JobMetrics, ProgressListener
    from wattstream.waiting import wait_until

    metrics = metrics or JobMetrics(cfg)
    listener = ProgressListener(metrics)
    spark.streams.addListener(listener)
    try:
        queries = main.start_queries(spark, cfg, metrics, available_now=True)
        for q in queries:
            q.awaitTermination(timeout)
            if q.exception():
                raise AssertionError(f"query {q.name} failed: {q.exception()}")
            assert not q.isActive, f"query {q.name} still running after {timeout}s"
        # Progress events arrive asynchronously; the counters fed by them need the last ones.
        wait_until(lambda: all(q.lastProgress is None or listener.last_batch.get(q.name)
                               == q.lastProgress["batchId"] for q in queries),
                   30, "the listener to see every query's last batch")
    finally:
        spark.streams.removeListener(listener)
    return metrics


class JobProcess:
    """`wattstream job` as a subprocess in its own process group (the JVM included), so a test
    can SIGKILL all of it like a node failure, or SIGTERM it like `kubectl delete pod`."""

    def __init__(self, cfg, workdir):
        from pathlib import Path

        import yaml

        from wattstream.config import to_dict

        self.cfg = cfg
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_file = self.dir / "wattstream.yaml"
        self.config_file.write_text(yaml.safe_dump(to_dict(cfg)))
        self.proc = None
        self.starts = 0

    def start(self) -> None:
        import os
        import subprocess
        import sys

        self.starts += 1
        log = open(self.dir / f"job-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wattstream", "--config", str(self.config_file), "job"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()

    def log(self) -> str:
        return (self.dir / f"job-{self.starts}.log").read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        import os
        import signal

        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout: float = 60) -> int:
        import os
        import signal
        import subprocess

        if not self.alive():
            return self.proc.returncode
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
            raise

    def metrics(self) -> dict:
        """{(name, labels tuple): value} scraped from the job's /metrics."""
        import urllib.request

        from prometheus_client.parser import text_string_to_metric_families

        url = f"http://127.0.0.1:{self.cfg.metrics.job_port}/metrics"
        text = urllib.request.urlopen(url, timeout=3).read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(text) for s in fam.samples}

    def metric(self, name: str, default: float = 0.0, **labels) -> float:
        try:
            return self.metrics().get((name, tuple(sorted(labels.items()))), default)
        except OSError:
            return default


def flat_models(expected: dict[str, float], sigma: float = 1.0, passes: bool = True,
                version: int = 1):
    """Baseline models (`baseline.models.Models`) expecting a constant window energy per building,
    with residual spread `sigma`, as `wattstream baseline` would store them."""
    from modelkit import flat_table

    from wattstream.baseline import models

    return models.Models.from_table(flat_table(expected, sigma, passes, version))


def us(ts):
    import pandas as pd

    return ((ts - pd.Timestamp(0)) // pd.Timedelta(microseconds=1)).to_numpy()


def partials_of(r):
    """What the JVM's aggregate returns for on-time readings (`aggregates.PARTIALS`)."""

    import pandas as pd

    from wattstream.job import aggregates

    if "local_how" not in r:  # readings whose local fields are their UTC ones
        t = pd.DatetimeIndex(r["timestamp"])
        r = r.assign(local_how=(t.dayofweek * 24 + t.hour).astype("float64"))
    g = r.assign(ts_us=us(r["timestamp"]).astype("float64")).groupby(["building_id", "ws"])
    out = g.agg(n=("energy_kwh", "size"), energy_sum=("energy_kwh", "sum"),
                energy_max=("energy_kwh", "max"), energy_min=("energy_kwh", "min"),
                first_us=("ts_us", "min"), last_us=("ts_us", "max"),
                temperature_sum=("temperature", "sum"),
                temperature_count=("temperature", "count"), humidity_sum=("humidity", "sum"),
                humidity_count=("humidity", "count"), occupancy_sum=("occupancy", "sum"),
                occupancy_count=("occupancy", "count"),
                local_how_count=("local_how", "count"), local_how_sum=("local_how", "sum"),
                local_how_min=("local_how", "min"), local_how_max=("local_how", "max"),
                ).reset_index()
    return aggregates.typed(out)


def engine_step(e, batch, now, idle_until_us=None):
    """One micro-batch through `engine.Engine` as `stream` drives it: late readings dropped
    against the watermark, partials, the candidate windows' readings, `apply` (with an
    idle-close record up to `idle_until_us`, if given). Returns the step and the number of
    late readings."""
    import numpy as np

    from wattstream.job import engine

    wm = e.watermark_us()
    on_time = batch if wm is None else batch[us(batch["timestamp"]) >= wm]
    parts = partials_of(on_time)
    cands = e.candidates(parts)
    keys = set(zip(cands["building_id"], cands["ws"], strict=True))
    readings = on_time[np.array([k in keys for k in zip(on_time["building_id"], on_time["ws"],
                                                        strict=True)], dtype=bool)]
    step = e.apply(parts, int(us(on_time["timestamp"]).max()) if len(on_time) else None,
                   readings[list(engine.READING_COLUMNS)], now, idle_until_us)
    return step, len(batch) - len(on_time)
