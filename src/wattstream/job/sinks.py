"""Where each streaming query writes: Parquet (file sink, exactly once through its
`_spark_metadata` log), Kafka (alerts, dead letters; at least once), Prometheus and stdout."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .. import kafka_client
from ..config import Config, resolve_uri
from . import correlation, parse, running
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


def start_windows(final: DataFrame, cfg: Config, trigger: dict):
    """Closed windows, appended once each to Parquet partitioned by date."""
    return (_writer(final, cfg, "windows", trigger)
            .format("parquet").outputMode("append").partitionBy("date")
            .option("path", storage(cfg, "windows"))
            .start())


def start_alerts(rows: DataFrame, cfg: Config, metrics: JobMetrics,
                 tracker: correlation.PearsonTracker, trigger: dict, top: int = 5):
    """The rows of `running.running_windows`, every consumed message accounted for once:
    alerts to Kafka (key = building) and to Parquet; malformed messages to the dead-letter
    topic; window updates to the per-building gauges, the correlation sums and a few console
    lines; counters. The Parquet folder of a micro-batch is overwritten on replay, so a
    restart does not duplicate rows there."""

    def batch(df: DataFrame, batch_id: int) -> None:
        df.persist()
        try:
            rows = df.toPandas()  # through Arrow: a batch may update thousands of windows
            if rows.empty:
                return
            _write(df, rows, cfg, batch_id)
            # Counted once written, so a count means "handled".
            _account(rows, batch_id, metrics, tracker, top)
        finally:
            df.unpersist()

    return _writer(rows, cfg, "alerts", trigger).foreachBatch(batch).start()


def _write(df: DataFrame, rows: pd.DataFrame, cfg: Config, batch_id: int) -> None:
    """Alerts to Kafka first (what the alert latency is about), dead letters, then the alerts'
    Parquet folder of this batch."""
    has_alerts = bool((rows["kind"] == running.ALERT).any())
    alerts = running.alerts(df)
    if has_alerts:
        _to_kafka(alerts.select(F.col("building_id").cast("binary").alias("key"),
                                F.to_json(F.struct(*running.ALERT_COLUMNS)).alias("value")),
                  cfg, cfg.kafka.alerts_topic)
    if (rows["kind"] == running.QUARANTINE).any():
        _to_kafka(parse.dead_letter(running.quarantined(df)), cfg, cfg.kafka.dead_letter_topic)
    if has_alerts:
        (alerts.withColumn("date", F.to_date("window_start")).coalesce(1)
         .write.mode("overwrite").parquet(f"{storage(cfg, 'alerts')}/batch_id={batch_id}"))


def _account(rows: pd.DataFrame, batch_id: int, metrics: JobMetrics,
             tracker: correlation.PearsonTracker, top: int) -> None:
    """Counters, gauges, correlations and console lines of a written batch."""
    kind = rows["kind"]
    updated = rows[kind == running.WINDOW]
    late = rows.loc[kind == running.LATE, "batch_readings"]
    metrics.readings.inc(int(updated["batch_readings"].sum() + late.sum()))
    bad = rows[kind == running.QUARANTINE]
    if len(bad):
        counts = bad["reason"].value_counts()
        for reason, n in counts.items():
            metrics.quarantined.labels(reason).inc(int(n))
        _say(f"[quarantine] batch {batch_id}: {len(bad)} message(s) quarantined "
             f"({', '.join(f'{k}={v}' for k, v in counts.items())})")
    alerts = rows[kind == running.ALERT].to_dict("records")
    for r in alerts:
        metrics.count_alert(r["building_id"], r["type"])
    _say_alerts(alerts, batch_id)
    if len(updated):
        _correlate(updated, tracker, metrics)
        live = updated[list(running.WINDOW_COLUMNS)]
        metrics.set_windows(live)
        _say_live(live, batch_id, top)


def _correlate(updated, tracker: correlation.PearsonTracker, metrics: JobMetrics) -> None:
    """Fold the windows' correlation sums in; refresh the gauges of the buildings shown."""
    ws = (updated["window_start"] - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    sums = pd.DataFrame(np.vstack(updated["corr"].to_numpy()),
                        columns=list(tracker.COLUMNS), index=updated.index)
    sums.insert(0, "bucket", ws // tracker.bucket * tracker.bucket)
    sums.insert(0, "building_id", updated["building_id"])
    changed = tracker.add(sums)
    shown = [b for b in changed if metrics.admit(b)]
    for b, r in tracker.table(shown).iterrows():
        metrics.set_correlations(b, r.to_dict())


def _say_alerts(rows: list, batch_id: int) -> None:
    if len(rows) > ALERT_LINES:
        _say(f"[alert] batch {batch_id}: {len(rows)} alerts, the first {ALERT_LINES}:")
    for r in rows[:ALERT_LINES]:
        _say(f"[alert] {r['type']} {r['building_id']} window "
             f"{r['window_start']:%Y-%m-%d %H:%M}-{r['window_end']:%H:%M} at "
             f"{r['event_time']:%H:%M:%S}: {r['value']:.1f} kWh "
             f"{'<' if r['value'] < r['threshold'] else '>'} {r['threshold']:.1f}")


def _say_live(rows, batch_id: int, top: int) -> None:
    if rows.empty:
        return
    _say(f"[live] batch {batch_id}: {len(rows)} window(s) updated; top by energy:")
    for r in rows.nlargest(top, "energy_kwh").to_dict("records"):
        _say(f"[live]   {r['building_id']:<12} {r['window_start']:%Y-%m-%d %H:%M}-"
             f"{r['window_end']:%H:%M} n={int(r['readings']):<5} energy={r['energy_kwh']:9.2f} "
             f"kWh avg={r['avg_kwh']:.3f} peak={r['peak_kwh']:.3f} "
             f"temp={_fmt(r['avg_temperature'])} occ={_fmt(r['avg_occupancy'])}")
    sys.stdout.flush()


def _fmt(v) -> str:
    return "-" if v is None or v != v else f"{v:.1f}"
