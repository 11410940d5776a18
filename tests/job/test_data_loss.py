"""Kafka losing data under the job: a topic deleted and recreated (what a broker restart on
ephemeral storage does to the offsets), and records deleted before the job read them (what
retention does to a job that lags). By default the queries stop with Spark's error; with
`job.fail_on_data_loss: false` the job goes on with the new data and counts the loss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from jobkit import JobProcess, produce, reading, run_available_now
from pyspark.errors import StreamingQueryException
from test_faults import _assert_equals_truth, _closer, _stored
from truth import windows

from wattstream.job import main
from wattstream.job.metrics import JobMetrics
from wattstream.job.offsets import kafka_offsets
from wattstream.local import kafka
from wattstream.local.procs import free_port
from wattstream.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
QUERIES = ("engine",)


def _readings(start: datetime, n: int = 60) -> list[dict]:
    """Three buildings, one reading every 20 s: 4 windows each."""
    return [reading(f"b-{i % 3}", start + timedelta(seconds=20 * i), 0.5 + (i % 7) / 4)
            for i in range(n)]


def _partitions(cfg) -> int:
    """Partitions of the readings topic, once the broker describes it (just after creation it
    may not yet)."""
    client = kafka.admin(cfg.kafka.bootstrap_servers)
    found = []
    try:
        wait_until(lambda: found.append(
            len(client.describe_topics([cfg.kafka.readings_topic])[0]["partitions"]))
            or found[-1] > 0, 30, "the readings topic", interval=0.2)
    finally:
        client.close()
    return found[-1]


def _produce_to_every_partition(cfg, readings: list[dict], partitions: int) -> None:
    # Each partition gets offsets to lose, so each one's reset is seen.
    for p in range(partitions):
        produce(cfg, readings[p::partitions], partition=p)


def _recreate_readings_topic(cfg, partitions: int) -> None:
    """Delete the readings topic and create it again: its offsets start over at 0, as after a
    broker restart that wiped the log."""
    from kafka.admin import NewTopic

    topic = cfg.kafka.readings_topic
    client = kafka.admin(cfg.kafka.bootstrap_servers)
    try:
        client.delete_topics([topic])
        wait_until(lambda: topic not in client.list_topics(), 30, "topic deleted", interval=0.1)

        def create() -> bool:  # refused while the broker still finishes the deletion
            client.create_topics([NewTopic(topic, partitions, cfg.kafka.replication_factor)])
            return True

        wait_until(create, 30, "topic recreated", interval=0.2)
    finally:
        client.close()


def _caught_up(job, cfg, readings: int) -> None:
    """The job has read everything produced so far."""
    wait_until(lambda: job.metric("wattstream_readings_processed_total") >= readings, 240,
               "the job to take in the readings", interval=1.0, alive=job.alive)
    wait_until(lambda: job.metric("wattstream_kafka_lag_records", -1, query="engine") == 0,
               120, "the job to catch up", interval=1.0, alive=job.alive)


def _loss(job, cfg, query: str, kind: str) -> float:
    return job.metric("wattstream_kafka_data_loss_total", query=query,
                      topic=cfg.kafka.readings_topic, kind=kind)


def test_with_data_loss_allowed_a_recreated_topic_is_counted_and_the_job_goes_on(
        spark, job_cfg, tmp_path):
    cfg = job_cfg.replace(job={"fail_on_data_loss": False, "trigger_seconds": 0.2},
                          metrics={"job_port": free_port()})
    partitions = _partitions(cfg)
    before, after = _readings(T0), _readings(T0 + timedelta(days=1))
    _produce_to_every_partition(cfg, before, partitions)
    job = JobProcess(cfg, tmp_path / "job")
    job.start()
    try:
        _caught_up(job, cfg, len(before))
        _recreate_readings_topic(cfg, partitions)
        for q in QUERIES:  # each query finds every partition back at offset 0
            wait_until(lambda q=q: _loss(job, cfg, q, "reset") >= partitions, 120,
                       f"the {q} query to count the reset", interval=1.0, alive=job.alive)
        produce(cfg, after + [_closer(after)])
        wait_until(lambda: job.metric("wattstream_readings_processed_total")
                   >= len(before) + len(after) + 1, 240, "the new readings", interval=1.0,
                   alive=job.alive)
        # Every window of both halves: the state survived the reset, the new data all came in.
        expected = len(windows(before + after, cfg.windows.length_seconds))
        wait_until(lambda: len(_stored(spark, cfg)) >= expected, 240, "all windows",
                   interval=1.0, alive=job.alive)
        _assert_equals_truth(spark, cfg, before + after)
        for q in QUERIES:
            assert _loss(job, cfg, q, "reset") == partitions, q
            assert _loss(job, cfg, q, "gap") == 0, q
        assert (f"skipped Kafka data it had not read (reset) in topic "
                f"{cfg.kafka.readings_topic}, partition 0: ") in job.log()
        assert job.terminate() == 0, job.log()[-3000:]
    finally:
        if job.alive():
            job.kill9()


def _read_up_to(queries, offsets: int) -> bool:
    return all(q.lastProgress and sum(kafka_offsets(
        q.lastProgress["sources"][0]["endOffset"]).values()) == offsets for q in queries)


@pytest.mark.filterwarnings("ignore:toPandas attempted Arrow optimization:UserWarning")
def test_by_default_a_recreated_topic_stops_the_queries_until_the_loss_is_allowed(
        spark, job_cfg):
    cfg = job_cfg.replace(job={"trigger_seconds": 0.2})
    assert cfg.job.fail_on_data_loss
    topic = cfg.kafka.readings_topic
    partitions = _partitions(cfg)
    before, after = _readings(T0), _readings(T0 + timedelta(days=1))
    _produce_to_every_partition(cfg, before, partitions)
    queries = main.start_queries(spark, cfg, JobMetrics(cfg))
    try:
        wait_until(lambda: _read_up_to(queries, len(before)), 180, "the first readings")
        _recreate_readings_topic(cfg, partitions)
        wait_until(lambda: not any(q.isActive for q in queries), 120, "the queries to stop")
    finally:
        main.stop_all(queries)
    for q in queries:  # Spark's own reason and remedy
        assert topic in str(q.exception()) and "failOnDataLoss" in str(q.exception()), q.name

    # The documented recovery: allow the loss and restart on the same checkpoints.
    cfg = cfg.replace(job={"fail_on_data_loss": False})
    metrics = run_available_now(spark, cfg)
    for q in QUERIES:
        assert metrics.data_loss.labels(q, topic, "reset")._value.get() == partitions, q
    produce(cfg, after + [_closer(after)])
    metrics = run_available_now(spark, cfg)
    assert metrics.readings._value.get() == len(after) + 1
    _assert_equals_truth(spark, cfg, before + after)


@pytest.mark.filterwarnings("ignore:toPandas attempted Arrow optimization:UserWarning")
def test_records_deleted_before_the_job_read_them_stop_it_or_count_as_a_gap(spark, job_cfg):
    from kafka.structs import TopicPartition

    topic = job_cfg.kafka.readings_topic
    before, after = _readings(T0, 40), _readings(T0 + timedelta(hours=1), 30)
    produce(job_cfg, before, partition=0)
    run_available_now(spark, job_cfg)  # the checkpoints now stand at offset 40
    produce(job_cfg, after, partition=0)
    client = kafka.admin(job_cfg.kafka.bootstrap_servers)
    try:  # what retention does: the log now starts at 50, ten records were never read
        client.delete_records({TopicPartition(topic, 0): 50})
    finally:
        client.close()

    try:
        with pytest.raises((AssertionError, StreamingQueryException), match="failOnDataLoss"):
            run_available_now(spark, job_cfg)
    finally:
        main.stop_all(spark.streams.active)

    cfg = job_cfg.replace(job={"fail_on_data_loss": False})
    metrics = run_available_now(spark, cfg)
    for q in QUERIES:
        assert metrics.data_loss.labels(q, topic, "gap")._value.get() == 10, q
        assert metrics.data_loss.labels(q, topic, "reset")._value.get() == 0, q
    assert metrics.readings._value.get() == 20
