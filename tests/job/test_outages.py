"""The job rides out outages of its dependencies, with real services of the test's own: a broker
down while the job starts, down mid-stream for longer than every client timeout, restarted
twice in a row, the alerts topic deleted and recreated, the job killed with kill -9 while the
broker is down; the NameNode down, the DataNode killed and restarted.

After each scenario the job is still running, every reading Kafka acknowledged is in exactly
one final window (the windows equal the truth worked out from the topic), no window and no
alert is duplicated (in Parquet and in the alerts topic), every alert stored was also sent,
and nothing is left running (services and job stopped by pid).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pandas as pd
import pytest
from faultkit import Feeder, PrivateHdfs, PrivateKafka, topic_values
from jobkit import JobProcess, produce, reading
from truth import windows

from wattstream import layout
from wattstream.config import Config
from wattstream.job import sinks
from wattstream.local import kafka
from wattstream.local.procs import free_port
from wattstream.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Longer than Spark's Kafka consumer and admin timeouts (60 s) and Hadoop's connect retries.
OUTAGE_S = float(os.environ.get("WATTSTREAM_TEST_OUTAGE_SECONDS", "75"))
RECOVERY_S = 120  # generous: the target (bench/faults.py) is 30 s at p95


def _job_cfg(base: Config, tmp_path, storage_root: str | None = None) -> Config:
    root = storage_root or tmp_path.as_uri()
    return base.replace(
        storage={"uri": f"{root}/warehouse", "checkpoint_uri": f"{root}/checkpoints"},
        windows={"length_seconds": 60, "watermark_seconds": 30},
        alerts={"gap_seconds": 600},
        kafka={"partitions": 2},
        job={"trigger_seconds": 1.0, "restart_initial_seconds": 1.0,
             "restart_max_seconds": 8.0},
        metrics={"job_port": free_port()})


def _state(job: JobProcess) -> str | None:
    try:
        m = job.metrics()
    except OSError:
        return None
    return next((dict(k[1])["state"] for k, v in m.items()
                 if k[0] == "wattstream_job_state" and v == 1), None)


def _wait_state(job: JobProcess, state: str, timeout: float, what: str) -> None:
    wait_until(lambda: _state(job) == state, timeout, f"{what}: job state {state}",
               interval=0.5, alive=job.alive)


def _processed(job: JobProcess) -> float:
    return job.metric("wattstream_readings_processed_total")


def _wait_progress(job: JobProcess, timeout: float, what: str) -> float:
    """Wait until the job takes in more readings than now and says it is running; seconds."""
    t0, before = time.monotonic(), _processed(job)
    wait_until(lambda: _processed(job) > before and _state(job) == "running", timeout,
               f"{what}: readings processed again", interval=0.5, alive=job.alive)
    return time.monotonic() - t0


def _outage(job: JobProcess, down, up, state: str, what: str) -> None:
    """`down()`; the job reports `state` and stays alive for OUTAGE_S; `up()`; it runs again."""
    down()
    t_down = time.monotonic()
    _wait_state(job, state, OUTAGE_S + 60, what)
    wait_until(lambda: time.monotonic() - t_down >= OUTAGE_S, OUTAGE_S + 5, "the outage",
               alive=job.alive)
    up()
    _wait_progress(job, RECOVERY_S, f"{what}: back")


def _stored(spark, cfg, name: str) -> pd.DataFrame:
    try:
        return spark.read.parquet(layout.data(cfg, name)).toPandas()
    except Exception:  # noqa: BLE001 - nothing committed yet
        return pd.DataFrame()


def _finish_and_check(spark, cfg: Config, job: JobProcess, feeder: Feeder,
                      deleted: frozenset = frozenset()) -> None:
    """Stop feeding, close every window, then compare the outputs with the topic's truth
    (`deleted`: ids of alerts that went with a deleted alerts topic)."""
    feeder.stop()
    readings = topic_values(cfg, cfg.kafka.readings_topic)
    assert len(readings) == feeder.acked, "the topic holds other than the acknowledged readings"
    last = max(pd.Timestamp(r["timestamp"]) for r in readings).to_pydatetime()
    produce(cfg, [reading("closer", last + timedelta(hours=1), 0.1)])
    want = windows(readings, cfg.windows.length_seconds)

    def stored_windows():
        got = _stored(spark, cfg, "windows")
        return got[got["building_id"] != "closer"] if len(got) else got

    wait_until(lambda: len(stored_windows()) >= len(want), 240, "every final window",
               interval=1.0, alive=job.alive)
    assert job.alive(), "the job ended"
    got = stored_windows()
    assert not got.duplicated(["building_id", "window_start"]).any(), "duplicate windows"
    got = got.sort_values(["building_id", "window_start"]).reset_index(drop=True)
    assert list(zip(got["building_id"], got["window_start"], strict=True)) == list(
        zip(want["building_id"], want["window_start"], strict=True))
    assert got["readings"].sum() == len(readings), "a reading is missing or counted twice"
    assert (got["readings"].to_numpy() == want["readings"].to_numpy()).all()
    pd.testing.assert_series_equal(got["energy_kwh"], want["energy_kwh"], rtol=1e-9)

    stored = _stored(spark, cfg, "alerts")
    assert len(stored), "the readings should have raised alerts"
    assert not stored["alert_id"].duplicated().any(), "an alert stored twice"
    wait_until(lambda: set(stored["alert_id"]) - deleted <= {
        a["alert_id"] for a in topic_values(cfg, cfg.kafka.alerts_topic)}, 60,
        "every stored alert in the alerts topic", interval=1.0)
    sent = [a["alert_id"] for a in topic_values(cfg, cfg.kafka.alerts_topic)]
    assert len(sent) == len(set(sent)), "an alert sent twice"
    assert job.terminate() == 0, job.log()[-3000:]


@pytest.fixture
def broker(tmp_path):
    b = PrivateKafka(tmp_path / "kafka")
    yield b
    b.close()


def test_job_rides_out_kafka_outages(spark, broker, tmp_path):
    # One task attempt: the outage fails the query, so the in-process restart is what is
    # tested here (with the default retries, Spark's own task retry rides out a short one).
    cfg = _job_cfg(broker.cfg, tmp_path).replace(job={"task_max_failures": 1})
    broker.create_topics(cfg)
    job = JobProcess(cfg, tmp_path / "job")
    feeder = None
    try:
        # The broker is away when the job starts: it waits, then runs.
        broker.stop()
        job.start()
        _wait_state(job, "waiting_kafka", 180, "started without a broker")
        broker.start()
        feeder = Feeder(cfg, buildings=4, interval=1.0)
        _wait_progress(job, 180, "broker back at start")

        # Down mid-stream for longer than every client timeout.
        _outage(job, broker.stop, broker.start, "waiting_kafka", "broker down mid-stream")

        # Restarted twice in a row.
        for _ in range(2):
            broker.stop()
            broker.start()
        _wait_progress(job, RECOVERY_S, "broker restarted twice")

        # The alerts topic deleted and recreated while the job runs.
        admin = kafka.admin(cfg.kafka.bootstrap_servers)
        try:
            admin.delete_topics([cfg.kafka.alerts_topic])
            wait_until(lambda: cfg.kafka.alerts_topic not in admin.list_topics(), 60,
                       "alerts topic deleted")
        finally:
            admin.close()
        deleted = frozenset(_stored(spark, cfg, "alerts")["alert_id"])
        # The next alert cannot be delivered: the job waits for the topic to return. The batch
        # first hangs on the send (reported as waiting), then fails once the producer gives up
        # (sinks.FLUSH_SECONDS): the topic comes back only after that, so the restart is sure.
        _wait_state(job, "waiting_kafka", 180, "alerts topic deleted")
        wait_until(lambda: job.metric("wattstream_job_retry_attempt") >= 1,
                   sinks.FLUSH_SECONDS + 120, "the batch with an undeliverable alert failed",
                   interval=0.5, alive=job.alive)
        broker.create_topics(cfg)
        _wait_progress(job, RECOVERY_S, "alerts topic recreated")
        # A batch failed on the missing topic: the query was restarted in the process.
        assert job.metric("wattstream_job_restarts_total", reason="kafka") >= 1

        # The job killed with kill -9 while the broker is down, then started again.
        broker.stop()
        job.kill9()
        job.start()
        _wait_state(job, "waiting_kafka", 180, "restarted without a broker")
        broker.start()
        _wait_progress(job, RECOVERY_S, "broker back after the job's kill -9")

        _finish_and_check(spark, cfg, job, feeder, deleted)
    finally:
        if feeder is not None:
            feeder._stop.set()
        if job.alive():
            job.kill9()


@pytest.fixture
def private_hdfs(tmp_path):
    h = PrivateHdfs(tmp_path / "hdfs")
    yield h
    h.close()


def test_job_rides_out_hdfs_outages(spark, broker, private_hdfs, tmp_path):
    cfg = _job_cfg(broker.cfg, tmp_path, storage_root=f"{private_hdfs.uri}/{tmp_path.name}")
    broker.create_topics(cfg)
    job = JobProcess(cfg, tmp_path / "job")
    feeder = Feeder(cfg, buildings=4, interval=1.0)
    try:
        job.start()
        _wait_progress(job, 240, "job started on HDFS")

        # The NameNode down for longer than the client's retries.
        _outage(job, private_hdfs.namenode.stop, private_hdfs.start_namenode, "waiting_hdfs",
                "NameNode down")
        assert job.metric("wattstream_job_restarts_total", reason="hdfs") >= 1

        # The DataNode killed (no clean shutdown), then started again.
        dn = private_hdfs.datanode
        os.killpg(dn.pid, 9)
        dn.stop()
        _wait_state(job, "waiting_hdfs", OUTAGE_S + 60, "DataNode killed")
        private_hdfs.start_datanode()
        _wait_progress(job, RECOVERY_S, "DataNode back")

        _finish_and_check(spark, cfg, job, feeder)
    finally:
        feeder._stop.set()
        if job.alive():
            job.kill9()
