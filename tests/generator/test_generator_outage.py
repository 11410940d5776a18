"""The generator while its broker is away (a private broker per test, stopped and started with its
data kept): realtime keeps its clock and spools, nothing expires, the spool drains in order when
Kafka returns, SIGTERM during an outage spools what is pending and the next run sends it first,
a full spool stops the generator with nothing lost, a rejected record stops it with the record
kept. Every summary satisfies acknowledged + spooled = produced + drained."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from faultkit import PrivateKafka
from gen_kafka_util import consume_all

from wattstream.config import Config, to_dict
from wattstream.generator.spool import Spool
from wattstream.local.procs import free_port
from wattstream.schema import parse_payload
from wattstream.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WS = [sys.executable, "-m", "wattstream"]
OUTAGE_S = 45  # longer than the client's request timeout (30 s)


@pytest.fixture
def broker(tmp_path):
    b = PrivateKafka(tmp_path / "kafka")
    try:
        yield b
    finally:
        b.close()


def gen_cfg(broker: PrivateKafka, tmp_path: Path, **generator) -> Config:
    cfg = broker.cfg.replace(
        metrics={"generator_port": free_port()},
        generator={"connect_timeout_seconds": 10.0, "max_pending_records": 50,
                   "spool_dir": str(tmp_path / "spool"), **generator})
    broker.create_topics(cfg)
    return cfg


class Gen:
    """`wattstream generate` as a process, its metrics scraped."""

    def __init__(self, cfg: Config, tmp_path: Path, name: str, *args: str):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        self.summary_file = tmp_path / f"{name}.summary.json"
        self.stderr_file = tmp_path / f"{name}.stderr"
        self.port = cfg.metrics.generator_port
        self.proc = subprocess.Popen(
            [*WS, "--config", str(path), "generate", *args, "--anomalies", "none",
             "--summary", str(self.summary_file)],
            stdout=subprocess.PIPE, stderr=open(self.stderr_file, "w"), text=True)  # noqa: SIM115

    def metric(self, name: str) -> float:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                          timeout=5).read().decode()
        except OSError:
            return -1.0
        for line in text.splitlines():
            if line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return -1.0

    def wait_for(self, what: str, cond, timeout: float = 90.0) -> None:
        wait_until(cond, timeout, what, interval=0.2, alive=lambda: self.proc.poll() is None,
                   error=lambda msg: AssertionError(f"{msg}: {self.stderr()}"))

    def acked(self) -> float:
        return self.metric("wattstream_generator_readings_sent_total")

    def spooled(self) -> float:
        return self.metric("wattstream_generator_spooled_records")

    def stop(self, timeout: float = 60.0) -> tuple[int, dict]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode, json.loads(self.summary_file.read_text())

    def stderr(self) -> str:
        return self.stderr_file.read_text()


def accounted(s: dict) -> bool:
    return s["acknowledged"] + s["spooled"] == s["produced"] + s["drained"] == \
        s["sent"] + s["drained"]


def by_building(records) -> dict[str, list]:
    """Each building's readings in topic (offset) order, as (timestamp, Kafka timestamp)."""
    out = defaultdict(list)
    for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
        reading = parse_payload(rec.value)
        out[reading.building_id].append((reading.timestamp, rec.timestamp / 1000))
    return out


def assert_gapless_in_order(records, step_s: float) -> None:
    """Exactly once and in order per building, with no step of event time missing."""
    for building, rows in by_building(records).items():
        times = [t for t, _ in rows]
        assert times == sorted(times), f"{building} out of order"
        assert len(set(times)) == len(times), f"{building} has duplicates"
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(abs(g - timedelta(seconds=step_s)) < timedelta(milliseconds=1)
                   for g in gaps), f"{building} misses readings"


def test_realtime_spools_through_an_outage_and_delivers_everything_once_in_order(broker,
                                                                                 tmp_path):
    cfg = gen_cfg(broker, tmp_path)
    gen = Gen(cfg, tmp_path, "rt", "realtime", "--buildings", "10", "--interval", "0.1")
    try:
        gen.wait_for("first acknowledgements", lambda: gen.acked() >= 100)
        broker.stop()
        t_down = time.monotonic()
        gen.wait_for("readings in the spool", lambda: gen.spooled() > 0)
        time.sleep(max(0.0, t_down + OUTAGE_S - time.monotonic()))  # the outage itself
        during = gen.spooled()
        assert during >= 0.8 * 100 * OUTAGE_S - 200  # the clock kept producing (100/s)
        broker.start()
        before = gen.acked()
        gen.wait_for("the spool drained", lambda: gen.spooled() == 0, timeout=120)
        gen.wait_for("new readings acknowledged", lambda: gen.acked() > before + during + 50)
        code, summary = gen.stop()
    finally:
        gen.stop()
    assert code == 0, gen.stderr()
    assert accounted(summary) and summary["spooled"] == 0 and summary["drained"] == 0
    assert summary["send_errors"] == 0 and summary["spooled_max"] >= during
    assert "Expiring" not in gen.stderr()
    assert "new readings go to the spool" in gen.stderr()
    records = consume_all(cfg, timeout=60)
    assert len(records) == summary["acknowledged"] == summary["produced"]
    assert_gapless_in_order(records, 0.1)
    # event time stayed true: each reading carries the time it was made (Kafka CreateTime
    # kept through the spool), however late it reached the broker
    for rows in by_building(records).values():
        assert all(-0.05 < created - t.timestamp() < 2.0 for t, created in rows)
    assert not list((tmp_path / "spool").glob("*.seg"))


def test_sigterm_in_an_outage_spools_what_is_pending_and_the_next_run_sends_it_first(
        broker, tmp_path):
    cfg = gen_cfg(broker, tmp_path)
    first = Gen(cfg, tmp_path, "first", "realtime", "--buildings", "10", "--interval", "0.1")
    try:
        first.wait_for("first acknowledgements", lambda: first.acked() >= 100)
        broker.stop()
        first.wait_for("a spool", lambda: first.spooled() >= 300)
        code, s1 = first.stop()
    finally:
        first.stop()
    assert code == 0, first.stderr()
    assert s1["stopped_by_signal"] and accounted(s1)
    assert s1["spooled"] >= 300 + 50  # the spool and the client's 50 unacknowledged
    with Spool(tmp_path / "spool", cfg.generator.spool_max_bytes) as spool:
        assert spool.readings == s1["spooled"] and spool.dropped == 0
    broker.start()
    # in flight at the stop, some may be in the topic unacknowledged: the next run skips those
    in_topic = len(consume_all(cfg, timeout=60))
    assert in_topic >= s1["acknowledged"]
    second = Gen(cfg, tmp_path, "second", "realtime", "--buildings", "10", "--interval", "0.1",
                 "--duration", "3")
    second.proc.wait(120)
    code, s2 = second.stop()
    assert code == 0, second.stderr()
    assert s2["already_in_kafka"] == in_topic - s1["acknowledged"]
    assert s2["drained"] == s1["spooled"] - s2["already_in_kafka"]
    assert s2["spooled"] == 0 and accounted(s2)
    assert "of an earlier run: they are sent first" in second.stderr()
    records = consume_all(cfg, timeout=60)
    assert len(records) == s1["produced"] + s2["produced"]
    # the first run's readings, then the second's, per building: the spool went first
    for building, rows in by_building(records).items():
        times = [t for t, _ in rows]
        assert times == sorted(times) and len(set(times)) == len(times), building


def test_a_full_spool_stops_the_generator_with_nothing_lost(broker, tmp_path):
    cfg = gen_cfg(broker, tmp_path, spool_max_bytes=1 << 20, max_pending_records=1000)
    gen = Gen(cfg, tmp_path, "full", "realtime", "--buildings", "200", "--interval", "0.05")
    try:
        gen.wait_for("first acknowledgements", lambda: gen.acked() >= 200)
        broker.stop()
        gen.proc.wait(120)  # ~1 MB of readings at 4 000 a second fill it in seconds
        code, summary = gen.stop()
    finally:
        gen.stop()
    err = gen.stderr()
    assert code == 1, err
    assert "spool is full" in err and "generator.spool_max_bytes=1,048,576" in err
    assert str(tmp_path / "spool") in err and "nothing was dropped" in err
    assert "every reading is accounted for" in err
    assert accounted(summary) and summary["spooled"] > 1000
    with Spool(tmp_path / "spool", cfg.generator.spool_max_bytes) as spool:
        assert spool.readings == summary["spooled"]
        assert spool.bytes <= 1 << 20
    broker.start()
    # Readings in flight when the broker went down may be in the topic without their
    # acknowledgement; the spool keeps them too, marked uncertain, and the next run checks.
    in_topic = len(consume_all(cfg, timeout=60))
    assert in_topic >= summary["acknowledged"]
    again = Gen(cfg, tmp_path, "again", "realtime", "--buildings", "200", "--interval", "0.05",
                "--duration", "1")
    again.proc.wait(120)
    code, s2 = again.stop()
    assert code == 0, again.stderr()
    assert accounted(s2) and s2["spooled"] == 0
    assert s2["already_in_kafka"] == in_topic - summary["acknowledged"]
    assert s2["drained"] == summary["spooled"] - s2["already_in_kafka"]
    records = consume_all(cfg, timeout=60)
    assert len(records) == summary["produced"] + s2["produced"]  # every reading exactly once
    for building, rows in by_building(records).items():
        times = [t for t, _ in rows]
        assert times == sorted(times) and len(set(times)) == len(times), building


def test_a_record_kafka_rejects_stops_the_generator_and_stays_in_the_spool(broker, tmp_path):
    """A non-retriable broker error (the topic takes no record this big) is not a loss: the
    record goes back to the spool, the generator stops with the error."""
    from kafka.admin import NewTopic

    from wattstream.local import kafka

    cfg = gen_cfg(broker, tmp_path).replace(kafka={"readings_topic": "tiny"})
    client = kafka.admin(cfg.kafka.bootstrap_servers)
    try:
        client.create_topics([NewTopic("tiny", 1, 1, topic_configs={"max.message.bytes": "200"})])
    finally:
        client.close()
    gen = Gen(cfg, tmp_path, "tiny", "backfill", "--buildings", "3", "--count", "30")
    gen.proc.wait(60)
    code, summary = gen.stop()
    assert code == 1 and "TooLarge" in gen.stderr(), gen.stderr()
    assert accounted(summary) and summary["send_errors"] > 0
    assert summary["spooled"] == summary["produced"] == 30 and summary["acknowledged"] == 0


def test_backfill_waits_through_an_outage_and_loses_nothing(broker, tmp_path):
    cfg = gen_cfg(broker, tmp_path)
    gen = Gen(cfg, tmp_path, "bf", "backfill", "--buildings", "10", "--count", "6000",
              "--rate", "200", "--no-progress")
    try:
        gen.wait_for("first acknowledgements", lambda: gen.acked() >= 200)
        broker.stop()
        gen.wait_for("the outage logged", lambda: "Kafka unreachable since" in gen.stderr(),
                     timeout=90)
        assert gen.spooled() == 0  # backfill waits, it does not spool
        broker.start()
        gen.proc.wait(180)
        code, summary = gen.stop()
    finally:
        gen.stop()
    assert code == 0, gen.stderr()
    # the client's bound, nothing beyond it (a loaded machine may log before the client is full)
    pending = [int(n) for n in re.findall(r"(\d+) readings pending", gen.stderr())]
    assert pending and max(pending) <= 50, pending
    assert accounted(summary) and summary["acknowledged"] == summary["produced"] == 6000
    assert summary["spooled_max"] == 0
    records = consume_all(cfg, timeout=60)
    assert len(records) == 6000
    for building, rows in by_building(records).items():
        times = [t for t, _ in rows]
        assert times == sorted(times) and len(set(times)) == len(times), building
