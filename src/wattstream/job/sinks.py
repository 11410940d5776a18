"""Where each streaming query writes: Parquet (file sink, exactly once through its
`_spark_metadata` log), Kafka (alerts, dead letters; at least once), Prometheus and stdout."""

from __future__ import annotations

import logging
import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .. import kafka_client
from ..config import Config, resolve_uri
from . import correlation, parse
from .alerts import OUTPUT_SCHEMA
from .metrics import JobMetrics

log = logging.getLogger(__name__)
ALERT_LINES = 10  # console lines per batch; every alert still goes to Kafka and Parquet


def storage(cfg: Config, name: str) -> str:
    return resolve_uri(cfg.storage.uri).rstrip("/") + "/" + name


def checkpoint(cfg: Config, name: str) -> str:
    return resolve_uri(cfg.storage.checkpoint_uri).rstrip("/") + "/" + name


def _writer(df: DataFrame, cfg: Config, name: str, trigger: dict):
    # One fair-scheduler pool per query (inherited by its stream thread at start): a long
    # window or ingest batch then cannot hold the cores while alerts wait.
    df.sparkSession.sparkContext.setLocalProperty("spark.scheduler.pool", name)
    return (df.writeStream.queryName(name)
            .option("checkpointLocation", checkpoint(cfg, name))
            .trigger(**trigger))


def _to_kafka(df: DataFrame, cfg: Config, topic: str) -> None:
    (df.write.format("kafka")
     .options(**kafka_client.spark_options(cfg.kafka))
     .option("topic", topic)
     .save())


def _say(line: str) -> None:
    print(line, flush=True)


def start_ingest(parsed: DataFrame, cfg: Config, metrics: JobMetrics,
                 tracker: correlation.PearsonTracker, trigger: dict):
    """Every consumed message once: counts by outcome, dead letters to Kafka, correlation sums."""
    bucket = tracker.bucket

    def batch(df: DataFrame, batch_id: int) -> None:
        df.persist()
        try:
            counts = {r["reason"]: r["n"] for r in
                      df.groupBy(F.col("error.reason").alias("reason"))
                      .agg(F.count(F.lit(1)).alias("n")).collect()}
            bad = sum(n for reason, n in counts.items() if reason is not None)
            if bad:
                _to_kafka(parse.dead_letter(parse.quarantined(df)), cfg,
                          cfg.kafka.dead_letter_topic)
            good = counts.get(None, 0)
            if good:
                changed = tracker.add(
                    correlation.batch_sums(parse.valid(df), bucket).collect())
                for b in changed:
                    metrics.set_correlations(b, tracker.correlations(b))
            # Counted after the dead letters are written, so a count means "handled".
            metrics.readings.inc(good)
            for reason, n in counts.items():
                if reason is not None:
                    metrics.quarantined.labels(reason).inc(n)
            if bad:
                _say(f"[quarantine] batch {batch_id}: {bad} of {bad + good} readings "
                     f"quarantined ({', '.join(f'{k}={v}' for k, v in counts.items() if k)})")
        finally:
            df.unpersist()

    return _writer(parsed, cfg, "ingest", trigger).foreachBatch(batch).start()


def start_windows(final: DataFrame, cfg: Config, trigger: dict):
    """Closed windows, appended once each to Parquet partitioned by date."""
    return (_writer(final, cfg, "windows", trigger)
            .format("parquet").outputMode("append").partitionBy("date")
            .option("path", storage(cfg, "windows"))
            .start())


def start_alerts(alerts: DataFrame, cfg: Config, metrics: JobMetrics, trigger: dict):
    """Alerts to Kafka (key = building) and to Parquet. The Parquet folder of a micro-batch is
    overwritten on replay, so a restart does not duplicate rows there."""
    columns = [c.split()[0] for c in OUTPUT_SCHEMA.split(", ")]

    def batch(df: DataFrame, batch_id: int) -> None:
        df.persist()
        try:
            rows = df.collect()
            if not rows:
                return
            _to_kafka(df.select(F.col("building_id").cast("binary").alias("key"),
                                F.to_json(F.struct(*columns)).alias("value")),
                      cfg, cfg.kafka.alerts_topic)
            (df.withColumn("date", F.to_date("window_start")).coalesce(1)
             .write.mode("overwrite").parquet(f"{storage(cfg, 'alerts')}/batch_id={batch_id}"))
            for r in rows:
                metrics.count_alert(r["building_id"], r["type"])
            if len(rows) > ALERT_LINES:
                _say(f"[alert] batch {batch_id}: {len(rows)} alerts, the first {ALERT_LINES}:")
            for r in rows[:ALERT_LINES]:
                _say(f"[alert] {r['type']} {r['building_id']} window "
                     f"{r['window_start']:%Y-%m-%d %H:%M}-{r['window_end']:%H:%M} at "
                     f"{r['event_time']:%H:%M:%S}: {r['value']:.1f} kWh "
                     f"{'<' if r['value'] < r['threshold'] else '>'} {r['threshold']:.1f}")
        finally:
            df.unpersist()

    return _writer(alerts, cfg, "alerts", trigger).foreachBatch(batch).start()


def start_live(running: DataFrame, cfg: Config, metrics: JobMetrics, trigger: dict,
               top: int = 5):
    """Running windows (update mode) → per-building gauges and a few console lines."""

    def batch(df: DataFrame, batch_id: int) -> None:
        rows = [r.asDict() for r in df.collect()]
        if not rows:
            return
        for r in rows:
            metrics.set_window(r)
        rows.sort(key=lambda r: -(r["energy_kwh"] or 0.0))
        _say(f"[live] batch {batch_id}: {len(rows)} window(s) updated; top by energy:")
        for r in rows[:top]:
            _say(f"[live]   {r['building_id']:<12} {r['window_start']:%Y-%m-%d %H:%M}-"
                 f"{r['window_end']:%H:%M} n={r['readings']:<5} energy={r['energy_kwh']:9.2f} "
                 f"kWh avg={r['avg_kwh']:.3f} peak={r['peak_kwh']:.3f} "
                 f"temp={_fmt(r['avg_temperature'])} occ={_fmt(r['avg_occupancy'])}")
        sys.stdout.flush()

    return (_writer(running, cfg, "live", trigger).outputMode("update")
            .foreachBatch(batch).start())


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.1f}"
