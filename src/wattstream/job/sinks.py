"""Where the job's outputs go: alerts to Kafka (kafka-python from the driver: a handful per
batch, sent as soon as they are found), dead letters to Kafka (Spark's sink, from the batch),
windows and alerts to Parquet (`files.Files`: whole files, one per batch id), lines to stdout.
"""

from __future__ import annotations

import contextlib
import json
import sys

import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame

from .. import kafka_client, layout
from ..config import Config
from ..files import Files, parquet_bytes, utc
from ..schema import format_timestamp
from ..tariff import COST_COLUMNS
from . import aggregates, parse
from .alerts import ALERT_COLUMNS, UNITS
from .detect import EXPECTATION_COLUMNS

ALERT_LINES = 10  # console lines per batch; every alert still goes to Kafka and Parquet
FLUSH_SECONDS = 30  # a batch's alerts not acknowledged by then: a transient Kafka fault

_TS = pa.timestamp("us", tz="UTC")
WINDOW_SCHEMA = pa.schema(
    [("building_id", pa.string()), ("window_start", _TS), ("window_end", _TS)]
    + [(a.column, pa.int64() if a.column == "readings" else pa.float64())
       for a in aggregates.AGGREGATES]
    + [("hour_of_week", pa.int32()), ("local_time_mismatches", pa.int64())]
    + [(c, pa.float64()) for c in (*EXPECTATION_COLUMNS, *COST_COLUMNS)])
ALERT_SCHEMA = pa.schema(
    [("alert_id", pa.string()), ("building_id", pa.string()), ("type", pa.string()),
     ("value", pa.float64()), ("threshold", pa.float64()), ("event_time", _TS),
     ("window_start", _TS), ("window_end", _TS), ("raised_at", _TS),
     ("lead_minutes", pa.float64()), ("extra_charge", pa.float64()), ("date", pa.date32())])


class AlertProducer:
    """The driver's Kafka producer: alerts as JSON records keyed by building, and records the
    driver finds itself (weather dead letters); created on first use."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._producer = None

    def _client(self):
        from kafka import KafkaProducer

        if self._producer is None:
            k = self.cfg.kafka
            # Idempotent: the client's own retries neither duplicate nor reorder an alert.
            self._producer = KafkaProducer(bootstrap_servers=k.bootstrap_servers, acks="all",
                                           linger_ms=0, enable_idempotence=True,
                                           max_block_ms=FLUSH_SECONDS * 1000,
                                           **kafka_client.python_kwargs(k))
        return self._producer

    def send(self, alerts: pd.DataFrame, acked: set | None = None) -> None:
        """Alerts to the alerts topic; the id of each one Kafka acknowledged goes into `acked`
        as it is acknowledged, also when the send as a whole fails."""
        topic = self.cfg.kafka.alerts_topic
        rows = alerts.to_dict("records")
        self.send_raw(topic, [(a["building_id"].encode(), json.dumps(alert_json(a)).encode())
                              for a in rows],
                      None if acked is None else [a["alert_id"] for a in rows], acked)

    def send_raw(self, topic: str, records: list[tuple[bytes, bytes]],
                 ids: list | None = None, acked: set | None = None) -> None:
        """(key, value) records to a topic, all acknowledged on return. On a failure the
        client is dropped with whatever it still buffers, so the batch's replay sends each
        record once more rather than the old client delivering it a second time later."""
        producer = self._client()
        try:
            futures = []
            for i, (key, value) in enumerate(records):
                f = producer.send(topic, key=key, value=value)
                if ids is not None:
                    f.add_callback(lambda _meta, rid=ids[i]: acked.add(rid))
                futures.append(f)
            producer.flush(FLUSH_SECONDS)
            for f in futures:
                f.get(timeout=0)  # raises the send's own error, if it failed
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):  # dropping a client that already failed
                self._producer.close(0)
            self._producer = None

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(10)
            self._producer = None


def alert_json(a: dict) -> dict:
    """An alert as its Kafka record's value (timestamps ISO-8601 UTC with milliseconds)."""
    return {c: (format_timestamp(a[c].tz_localize("UTC").to_pydatetime())
                if isinstance(a[c], pd.Timestamp) else None if _missing(a[c]) else a[c])
            for c in ALERT_COLUMNS}


def _missing(v) -> bool:
    return isinstance(v, float) and v != v  # NaN is not JSON: null


def dead_letters(batch: DataFrame, cfg: Config) -> None:
    """The batch's malformed messages → the dead-letter topic (`parse.dead_letter`)."""
    (parse.dead_letter(batch).write.format("kafka")
     .options(**kafka_client.spark_options(cfg.kafka))
     .option("topic", cfg.kafka.dead_letter_topic)
     .save())


def write_windows(files: Files, cfg: Config, closed: pd.DataFrame, batch_id: int) -> None:
    """Final windows of a batch: one file per date (`windows/date=<day>/part-<batch>.parquet`)."""
    if closed.empty:
        return
    days = closed["window_start"].dt.strftime("%Y-%m-%d")
    for day, rows in closed.groupby(days, sort=True):
        files.write(f"{layout.data(cfg, 'windows')}/date={day}/part-{batch_id:012d}.parquet",
                    parquet_bytes(utc(rows[WINDOW_SCHEMA.names]), WINDOW_SCHEMA))


def write_alerts(files: Files, cfg: Config, alerts: pd.DataFrame, batch_id: int) -> None:
    """Alerts of a batch: `alerts/batch_id=<batch>/part-0.parquet`."""
    if alerts.empty:
        return
    rows = utc(alerts[list(ALERT_COLUMNS)]).assign(
        date=alerts["window_start"].dt.date.to_numpy())
    files.write(f"{layout.data(cfg, 'alerts')}/batch_id={batch_id}/part-0.parquet",
                parquet_bytes(rows, ALERT_SCHEMA))


def say(line: str) -> None:
    print(line, flush=True)


def say_alerts(rows: list, batch_id: int) -> None:
    if len(rows) > ALERT_LINES:
        say(f"[alert] batch {batch_id}: {len(rows)} alerts, the first {ALERT_LINES}:")
    for r in rows[:ALERT_LINES]:
        say(f"[alert] {r['type']} {r['building_id']} window "
            f"{r['window_start']:%Y-%m-%d %H:%M}-{r['window_end']:%H:%M} at "
            f"{r['event_time']:%H:%M:%S}: {r['value']:.1f} {UNITS.get(r['type'], 'kWh')} "
            f"{'<' if r['value'] < r['threshold'] else '>'} {r['threshold']:.1f}")


def say_live(rows: pd.DataFrame, batch_id: int, top: int) -> None:
    if rows.empty:
        return
    say(f"[live] batch {batch_id}: {len(rows)} window(s) updated; top by energy:")
    for r in rows.nlargest(top, "energy_kwh").to_dict("records"):
        say(f"[live]   {r['building_id']:<12} {r['window_start']:%Y-%m-%d %H:%M}-"
            f"{r['window_end']:%H:%M} n={int(r['readings']):<5} energy={r['energy_kwh']:9.2f} "
            f"kWh avg={r['avg_kwh']:.3f} peak={r['peak_kwh']:.3f} "
            f"temp={_fmt(r['avg_temperature'])} occ={_fmt(r['avg_occupancy'])}")
    sys.stdout.flush()


def _fmt(v) -> str:
    return "-" if v is None or v != v else f"{v:.1f}"
