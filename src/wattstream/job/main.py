"""`wattstream job`: read readings from Kafka through the one window engine (`stream`), kept
running through outages by the supervisor (`supervise`), stop on SIGTERM.

    wattstream --config wattstream.yaml job

One query (`engine`, its checkpoint under `storage.checkpoint_uri`) takes every message once,
every `job.trigger_seconds`: alerts at the crossing reading → Kafka + Parquet; malformed
messages → the dead-letter topic; final windows → Parquet `<storage.uri>/windows`, by date; the
live view → Prometheus gauges and console lines; counters and correlations.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from pyspark.sql import DataFrame, SparkSession

from .. import kafka_client, layout
from .. import spark as session
from ..config import Config
from ..files import Files
from . import idle, notify, probes, stream, weather
from .metrics import JobMetrics, ProgressListener
from .supervise import Supervisor

log = logging.getLogger(__name__)


FETCH_MAX_WAIT_MS = 5


def kafka_source(spark: SparkSession, cfg: Config) -> DataFrame:
    k = cfg.kafka
    return (spark.readStream.format("kafka")
            .options(**kafka_client.spark_options(k))
            .option("subscribe", ",".join(weather.source_topics(cfg)))
            .option("startingOffsets", cfg.job.starting_offsets)
            .option("maxOffsetsPerTrigger", cfg.job.max_offsets_per_trigger)
            # Every query reads through this source, so each one honours the setting.
            .option("failOnDataLoss", str(cfg.job.fail_on_data_loss).lower())
            # Each task's consumer otherwise waits up to the client's 500 ms for more bytes at
            # the end of its range: a live batch of 20 readings over 6 partitions took 1.9 s
            # to read and sum, 0.6 s with this (job/README.md, step 2).
            .option("kafka.fetch.max.wait.ms", str(FETCH_MAX_WAIT_MS))
            .load())


def trigger_of(seconds: float, available_now: bool = False) -> dict:
    if available_now:
        return {"availableNow": True}
    return {"processingTime": f"{int(seconds * 1000)} milliseconds"}


def start_queries(spark: SparkSession, cfg: Config, metrics: JobMetrics,
                  source: DataFrame | None = None, available_now: bool = False,
                  batches: stream.Batches | None = None) -> list:
    """Start the job's query on `source` (default: the readings topic); returns [query]."""
    source = kafka_source(spark, cfg) if source is None else source
    return [stream.start(source, cfg, metrics, trigger_of(cfg.job.trigger_seconds,
                                                          available_now), batches)]


def stop_all(queries: list, spark=None, close: bool = True) -> None:
    # Stopping cancels the batches in flight; their cancellation tracebacks (py4j callbacks,
    # killed tasks) are expected then and would bury the last useful lines of the log.
    logging.getLogger("py4j.clientserver").setLevel(logging.CRITICAL)
    if spark is not None:
        session.silence(spark)
    for q in queries:
        try:
            _between_batches(q)
            q.stop()
        except Exception as exc:  # noqa: BLE001 - keep stopping the others
            log.warning("stopping %s: %s", q.name, exc)
        finally:
            batches = getattr(q, "batches", None)
            if close and batches is not None:
                batches.close()


def _between_batches(query, timeout: float = 30.0) -> None:
    """Wait (bounded) for the running micro-batch to end: interrupting one mid-write makes the
    JVM print cancellation traces, some deep enough to overflow a thread's stack."""
    deadline = time.monotonic() + timeout
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.1)


def _status(query) -> dict | None:
    """The running query's status (None when there is none, or it is not active)."""
    try:
        return query.status if query is not None and query.isActive else None
    except Exception:  # noqa: BLE001 - a query stopping under the caller
        return None


def run(cfg: Config, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop` is set). Transient faults (Kafka, HDFS or the storage
    path away) restart the query in this process (`supervise`); a permanent one ends the job
    with an error naming its cause."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # kafka-python logs every refused connection of the probes and the alert producer as an
    # error; the supervisor says once what is unreachable and since when.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    metrics = JobMetrics(cfg)
    metrics.serve()
    spark = session.build(cfg)
    spark.streams.addListener(ProgressListener(metrics))
    if stop.is_set():
        return 0
    files = Files(spark)
    notifier = notify.Notifier(cfg, metrics).start() if notify.urls(cfg) else None
    batches: list = []  # one Batches for every start: its state and producer outlive a restart

    def start():
        if not batches:
            batches.append(stream.Batches(spark, cfg, metrics))
        q = start_queries(spark, cfg, metrics, batches=batches[0])[0]
        return q

    print(f"[job] reading {cfg.kafka.readings_topic} from {cfg.kafka.bootstrap_servers}; "
          f"windows → {layout.data(cfg, 'windows')}; metrics on :{cfg.metrics.job_port}"
          + (f"; alerts → Alertmanager {', '.join(notify.urls(cfg))}" if notifier else ""),
          flush=True)
    sup = Supervisor(cfg, metrics, start, probes.all_of(cfg, files),
                     lambda: metrics.progress_events, stop,
                     stop_query=lambda q: stop_all([q], close=False))
    closer = idle.IdleCloser(cfg, lambda: batches[0] if batches else None,
                             lambda: _status(sup.query)).start()
    try:
        sup.run()
    finally:
        closer.stop()
        stop_all([sup.query] if sup.query is not None else [], spark)
        for b in batches:
            b.close()
        if notifier is not None:
            notifier.stop()
        print("[job] stopped", flush=True)
    return 0
