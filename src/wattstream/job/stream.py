"""The job's one streaming query: every message of the readings topic once, parsed once, through
the window engine, micro-batch by micro-batch (`foreachBatch`).

Per micro-batch, in the JVM: the parse (`parse.decode`), then one aggregation that sums the
on-time valid readings per (building, window) (`aggregates.PARTIALS`, plus the correlation
sums) and counts the late and the malformed messages; a small batch is collected instead and
summed on the driver by the same definitions. On the driver: the engine folds those partials
into its open windows (`engine.Engine`); only the readings of windows that may cross a
threshold in this batch are taken (a big batch collects them in a second job), to find the
crossing reading. Then, in this order:

  1. alerts → Kafka `kafka.alerts_topic` (key = building; at least once, deterministic ids);
  2. malformed messages → the dead-letter topic, with their payload and reason;
  3. closed windows → Parquet `<storage.uri>/windows/date=<day>/part-<batch>.parquet`, alerts →
     `<storage.uri>/alerts/batch_id=<batch>/part-0.parquet`: one file each per batch id,
     renamed into place whole, so a replayed batch replaces its own files (exactly once) and a
     reader never sees a partial file;
  4. the engine's state → `<checkpoint_uri>/engine/open-windows/<batch>.arrow`;
  5. counters, gauges, correlations, console lines.

Spark's checkpoint (`<checkpoint_uri>/engine`) records the offsets of each batch before it
runs: after a crash the last batch is replayed with the same offsets from the state saved by
the batch before it, so every output above is the same again.
"""

from __future__ import annotations

import logging
import time
from collections import deque

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .. import layout
from ..baseline import models as baseline_models
from ..config import Config
from ..errors import WattstreamError
from ..files import Files
from ..localtime import naive_utc
from ..schema import IDLE_CLOSE_KEY
from . import aggregates, correlation, parse, sinks, weather
from .engine import READING_COLUMNS, Engine
from .metrics import JobMetrics

log = logging.getLogger(__name__)
QUERY = "engine"
LITERAL_CANDIDATES = 2_000  # up to this many candidate windows are filtered by literals
STATES_KEPT = 3  # saved states kept behind the newest (a replay needs only the one before)


def prepare(parsed: DataFrame, length_s: int, weather_topic: str = "") -> DataFrame:
    """The columns a batch needs, from `parse.decode` rows: the payload only where malformed,
    or where the message is a weather observation (`weather_topic`; parsed on the driver).
    An idle-close record (`schema.IDLE_CLOSE_KEY`) is `control`, not malformed: its `ts_us` is
    the event time up to which it closes the windows."""
    control = (F.col("key") == F.lit(IDLE_CLOSE_KEY)) if "key" in parsed.columns else F.lit(False)
    control = F.coalesce(control, F.lit(False))
    ok = F.col("error").isNull()
    keep_payload = ~ok if not weather_topic else (~ok | (F.col("topic") == weather_topic))
    ts = F.when(ok, F.col("timestamp"))
    until = F.col("payload").cast("string").try_cast("long")
    return parsed.select(
        F.when(ok, F.col("building_id")).alias("building_id"),
        F.when(ok, F.floor(F.unix_micros(ts) / (length_s * 1_000_000)) * length_s)
        .cast("long").alias("ws"),
        ts.alias("timestamp"),
        F.when(control, until).otherwise(F.unix_micros(ts)).alias("ts_us"),
        "energy_kwh", "temperature", "humidity",
        F.col("occupancy").cast("double").alias("occupancy"),
        F.col("hour").cast("double").alias("hour"),
        (F.col("day_of_week") * 24 + F.col("hour")).cast("double").alias("local_how"),
        "topic", "partition", "offset",
        F.when(keep_payload & ~control, F.col("payload")).alias("payload"),
        F.when(~control, F.col("error")).alias("error"), control.alias("control"))


class Batches:
    """The `foreachBatch` function of the query: state, outputs and accounting per batch."""

    def __init__(self, spark, cfg: Config, metrics: JobMetrics,
                 tracker: correlation.PearsonTracker | None = None, top: int = 5):
        self.spark, self.cfg, self.metrics, self.top = spark, cfg, metrics, top
        self.tracker = tracker or tracker_of(cfg)
        self.engine = Engine(cfg)
        self.files = Files(spark)
        self._polled = -float("inf")
        self.poll_models()
        # Inside the query's checkpoint: deleting it to start over drops both.
        self.state_dir = layout.checkpoint(cfg, QUERY) + "/open-windows"
        self.last_batch: int | None = None  # the batch the engine's state is after
        self.alert_sink = sinks.AlertProducer(cfg)
        self.weather_on = weather.enabled(cfg)
        q = cfg.alerts.quiet_before
        # Naive UTC, as the alerts' event times.
        self.quiet_before = naive_utc(q) if q else None
        # Seconds per step of the recent batches (bench/pipeline.py reports them).
        self.timings: deque[dict] = deque(maxlen=10_000)
        # What a failed batch already delivered to Kafka, so that its replay in this process
        # does not send it again: its alert ids acknowledged, which dead letters went out.
        self._delivered: dict = {"batch": -1}
        # Messages in the last batch: a small one lets the next find its crossings in one pass.
        self._last_messages: int | None = None
        self._plans: dict[bool, _Partials] = {}
        # For the idle close (`idle.IdleCloser`): a batch runs; when readings last came in.
        self.busy = False
        self.input_at = time.monotonic()

    def close(self) -> None:
        self.alert_sink.close()

    def restarted(self) -> None:
        """Before a (re)start of the query: the engine's state is read from the checkpoint
        again, as after a crash (a failed batch may have changed it in memory)."""
        self.last_batch = None

    # --- the baseline models -------------------------------------------------------------
    def poll_models(self) -> None:
        """Take a newer baseline version, at most every `baseline.poll_seconds`."""
        now = time.monotonic()
        if now - self._polled < self.cfg.baseline.poll_seconds:
            return
        self._polled = now
        current = self.engine.models.version if self.engine.models else 0
        try:
            models = baseline_models.latest(self.files, self.cfg, after=current)
        except Exception:  # noqa: BLE001 - a bad model file must not stop the job
            log.exception("baseline: could not load the newest model version; keeping v%d",
                          current)
            return
        if models is None:
            if not current:
                log.info("no baseline model under %s yet: ABNORMAL_USAGE stays silent until "
                         "`wattstream baseline` fits one", baseline_models.location(self.cfg))
            return
        self.engine.models = models
        self.metrics.set_models(models.table)

    # --- state --------------------------------------------------------------------------
    def _restore(self, batch_id: int) -> None:
        """The engine's state after batch `batch_id - 1` (the newest saved before it)."""
        if self.last_batch == batch_id - 1:
            return
        saved = [int(n.split(".")[0]) for n in self.files.list(self.state_dir)
                 if n.endswith(".arrow")]
        before = [b for b in saved if b < batch_id]
        blob = self.files.read(self._state_file(max(before))) if before else None
        try:
            self.engine.decode(blob)
        except (pa.ArrowException, KeyError, ValueError, TypeError) as exc:
            raise WattstreamError(
                f"unreadable engine state {self._state_file(max(before))}: {exc}") from exc
        log.info("engine state restored from batch %s for batch %d",
                 max(before) if before else "none", batch_id)

    def _state_file(self, batch_id: int) -> str:
        return f"{self.state_dir}/{batch_id:012d}.arrow"

    def _save(self, batch_id: int) -> None:
        blob = self.engine.encode()
        self.files.write(self._state_file(batch_id), blob)
        self.last_batch = batch_id
        self.metrics.open_windows.set(len(self.engine.windows))
        self.metrics.state_bytes.set(len(blob))
        # Batch ids follow one another, so one file falls out of the kept range per batch
        # (no listing of the folder on every batch).
        self.files.delete(self._state_file(batch_id - STATES_KEPT - 1))

    # --- one batch ----------------------------------------------------------------------
    def __call__(self, df: DataFrame, batch_id: int) -> None:
        self.busy = True
        try:
            self._batch(df, batch_id)
        except BaseException:
            self.last_batch = None  # the engine's memory may hold half of this batch
            raise
        finally:
            self.busy = False

    def _batch(self, df: DataFrame, batch_id: int) -> None:
        clock = _Clock()
        self._batch_id = batch_id
        self.poll_models()
        self._restore(batch_id)
        wm = self.engine.watermark_us()
        # Small batches carry their readings per window in the pass that sums them (all
        # batches when capped at the limit, else those after a small one); big ones are cached
        # and a second job collects the readings of the windows that may cross (without the
        # cache it re-reads Kafka and parses again: 16 s more per 2 M readings at 1 000
        # buildings, against 4 s of caching).
        limit = self.cfg.job.crossing_in_pass_max_readings
        in_pass = self.cfg.job.max_offsets_per_trigger <= limit or (
            self._last_messages is not None and self._last_messages <= limit)
        cached = df = df if in_pass else df.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            if self.weather_on:
                df = self._take_weather(cached)
            parts, batch_readings = self._partials(df, wm, in_pass)
            clock.lap("partials")
            status = parts["status"]
            self._last_messages = int(parts["n"].sum())
            ok = aggregates.typed(parts[status == "ok"].reset_index(drop=True))
            late = int(parts.loc[status == "late", "n"].sum())
            bad = parts[status == "bad"]
            batch_max = parts.loc[status == "ok", "last_us"].max()
            until = parts.loc[status == "control", "last_us"].max()
            cands = self.engine.candidates(ok)
            readings = (_of_windows(batch_readings, cands) if in_pass
                        else self._readings(df, cands, wm))
            clock.lap("crossing_search")
            now = pd.Timestamp.now(tz="UTC").tz_convert(None)
            step = self.engine.apply(ok, None if pd.isna(batch_max) else int(batch_max),
                                     readings, now,
                                     idle_until_us=None if pd.isna(until) else int(until))
            clock.lap("engine")
            self._deliver(batch_id, self._loud(step.alerts), df if len(bad) else None)
            clock.lap("kafka")
        finally:
            if not in_pass:
                cached.unpersist()
        sinks.write_windows(self.files, self.cfg, step.closed, batch_id)
        sinks.write_alerts(self.files, self.cfg, step.alerts, batch_id)
        self._save(batch_id)
        clock.lap("files")
        self._account(batch_id, ok, late, bad, step)
        if len(ok) or late:
            self.input_at = time.monotonic()
        if not pd.isna(until):
            self.metrics.idle_closes.inc()
            sinks.say(f"[idle] batch {batch_id}: input idle, {len(step.closed)} window(s) "
                      "closed")
        clock.lap("accounting")
        self.timings.append({"batch": batch_id, "windows": len(ok), "candidates": len(cands),
                             "crossing_readings": len(readings), "in_pass": in_pass,
                             **clock.laps})

    def _deliver(self, batch_id: int, alerts: pd.DataFrame, bad: DataFrame | None) -> None:
        """Alerts, then dead letters, to Kafka: each at most once per batch in this process
        (a replay after an in-process restart skips what was acknowledged before)."""
        done = self._done(batch_id)
        todo = alerts[~alerts["alert_id"].isin(done["alerts"])] if len(alerts) else alerts
        if len(todo):
            self.alert_sink.send(todo, done["alerts"])
        if bad is not None and "dead_letters" not in done:
            sinks.dead_letters(bad, self.cfg)
            done["dead_letters"] = True

    def _done(self, batch_id: int) -> dict:
        if self._delivered["batch"] != batch_id:
            self._delivered = {"batch": batch_id, "alerts": set()}
        return self._delivered

    def _partials(self, df: DataFrame, wm: int | None,
                  in_pass: bool = False) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """One row per (status, reason, building, window): the partials of on-time valid
        readings per window (status ok), the count of late ones and of malformed ones by
        reason. `in_pass`: the batch's rows are collected and summed on the driver, which also
        returns its on-time readings (READING_COLUMNS); else None.

        The expressions are built once (`_Partials`): through py4j that took 0.1–0.3 s a
        batch, a good part of a small batch's time."""
        if in_pass not in self._plans:
            self._plans[in_pass] = _Partials(in_pass)
        plan = self._plans[in_pass]
        if in_pass:
            return plan.collect(df, wm)
        return plan.run(self._with_watermark(df, wm)), None

    def _with_watermark(self, df: DataFrame, wm: int | None) -> DataFrame:
        """`df` with the watermark as column `_wm`, joined as a one-row table rather than a
        literal: a literal changes the generated code, which Spark compiles again each batch."""
        cut_us = _NO_WATERMARK if wm is None else int(wm)
        cut = self.spark.sql(f"SELECT * FROM VALUES (CAST({cut_us} AS BIGINT)) AS t(_wm)")
        return df.crossJoin(F.broadcast(cut))

    def _readings(self, df: DataFrame, cands: pd.DataFrame, wm: int | None) -> pd.DataFrame:
        """The on-time readings of the candidate windows (READING_COLUMNS). A few candidates
        (the live case) go into the filter as literals, a Spark job less than a join."""
        if cands.empty:
            return pd.DataFrame(columns=list(READING_COLUMNS))
        rows = (self._with_watermark(df, wm)
                .where(F.col("error").isNull() & (F.col("ts_us") >= F.col("_wm"))))
        if len(cands) <= LITERAL_CANDIDATES:
            # building|window start: unique, as the start is digits after the last '|'.
            wanted = [f"{b}|{w}" for b, w in zip(cands["building_id"], cands["ws"], strict=True)]
            rows = rows.where(F.concat_ws("|", "building_id", F.col("ws").cast("string"))
                              .isin(wanted))
        else:
            keys = self.spark.createDataFrame(cands[["building_id", "ws"]].astype(
                {"ws": "int64"}))
            rows = rows.join(F.broadcast(keys), ["building_id", "ws"])
        return rows.select(*READING_COLUMNS).toPandas()

    def _take_weather(self, df: DataFrame) -> DataFrame:
        """The batch's weather observations into the engine's store (the malformed ones to the
        dead-letter topic, counted); returns the batch's readings with the weather joined."""
        topic = self.cfg.kafka.weather_topic
        rows = (df.where(F.col("topic") == topic).select("payload", "partition", "offset")
                .collect())
        taken, bad = self.engine.weather.add([(bytes(r[0]), r[1], r[2]) for r in rows])
        for site, n in taken.items():
            self.metrics.weather_observations.labels(site).inc(int(n))
        done = self._done(self._batch_id)
        if bad and "weather_dead_letters" not in done:
            self.alert_sink.send_raw(self.cfg.kafka.dead_letter_topic,
                                     [weather.dead_letter_json(b, topic) for b in bad])
            done["weather_dead_letters"] = True
            for b in bad:
                self.metrics.quarantined.labels(b.reason).inc()
            sinks.say(f"[quarantine] {len(bad)} weather observation(s) quarantined")
        return weather.enrich(df.where(F.col("topic") != topic), self.spark,
                              self.engine.weather, self.cfg)

    # --- accounting ---------------------------------------------------------------------
    def _account(self, batch_id: int, ok: pd.DataFrame, late: int, bad: pd.DataFrame,
                 step) -> None:
        """Counted once written, so a count means "handled"."""
        m = self.metrics
        m.readings.inc(int(ok["n"].sum()) + late)
        if self.weather_on and len(ok):
            without = (ok["n"] - ok["temperature_count"]).to_numpy()
            missing = int(without[weather.sited(self.cfg, ok["building_id"])].sum())
            if missing:
                m.weather_missing.inc(missing)
        if late:
            m.late.inc(late)
        if len(bad):
            counts = bad.groupby("reason")["n"].sum()
            for reason, n in counts.items():
                m.quarantined.labels(reason).inc(int(n))
            sinks.say(f"[quarantine] batch {batch_id}: {int(counts.sum())} message(s) "
                      f"quarantined ({', '.join(f'{k}={v}' for k, v in counts.items())})")
        alerts = self._loud(step.alerts).to_dict("records")
        sinks.say_alerts(alerts, batch_id)
        # Per-building series go to the first buildings seen (metrics.max_buildings): the live
        # ones before those that only raise an alert or close a window.
        if len(ok):
            self._correlate(ok)
            m.set_windows(self._expect(step.touched))
            peaks = self.engine.peaks
            m.set_billing_peaks(peaks[peaks["building_id"].isin(ok["building_id"].unique())])
            sinks.say_live(step.touched, batch_id, self.top)
        if len(step.closed):
            m.set_closed(step.closed)
        for a in alerts:
            m.count_alert(a["building_id"], a["type"])

    def _loud(self, alerts: pd.DataFrame) -> pd.DataFrame:
        """The alerts that page: those of events from `alerts.quiet_before` on."""
        if self.quiet_before is None or alerts.empty:
            return alerts
        return alerts[alerts["event_time"] >= self.quiet_before]

    def _expect(self, touched: pd.DataFrame) -> pd.DataFrame:
        """Running windows with the baseline's expectation for the whole window."""
        models = self.engine.models
        if models is None or touched.empty:
            return touched
        expectation = models.expect(touched["building_id"], touched["hour_of_week"].to_numpy(),
                                    touched["avg_temperature"].to_numpy(dtype="float64"),
                                    touched["energy_kwh"].to_numpy(dtype="float64"))
        return touched.assign(expected_kwh=expectation["expected_kwh"].to_numpy())

    def _correlate(self, ok: pd.DataFrame) -> None:
        """Fold the windows' correlation sums in; refresh the gauges of the buildings shown."""
        t = self.tracker
        sums = ok[["building_id"]].copy()
        sums["bucket"] = ok["ws"].to_numpy(dtype="int64") // t.bucket * t.bucket
        for c in t.COLUMNS:
            sums[c] = ok[c].to_numpy(dtype="float64") if c in ok else np.nan
        shown = self.metrics.with_series(list(t.add(sums)))
        for b, r in t.table(shown).iterrows():
            self.metrics.set_correlations(b, r.to_dict())


_NO_WATERMARK = -(2**63)  # before any watermark: every valid reading is on time
_GROUP = ["status", "reason", "building_id", "ws"]
_NUMERIC = ("ts_us", "energy_kwh", "temperature", "humidity", "occupancy", "hour",
            "local_how")


class _Partials:
    """The columns of `Batches._partials`, built once per shape.

    A big batch is aggregated in the JVM (`run`: one grouped aggregate over the rows joined
    with the watermark `_wm`). A small one (`collect`) is collected as it is parsed and summed
    on the driver by the same definitions (`aggregates.grouped_partials`,
    `correlation.grouped_partials`): one stage without a shuffle, and the crossing readings
    are in hand (a live 20-building batch's pass 0.83 → 0.55 s on this box's profile)."""

    def __init__(self, in_pass: bool):
        if in_pass:
            self.select = [F.col("error").isNotNull().alias("_bad"), "control",
                           F.col("error.reason").alias("reason"), "building_id", "ws",
                           *_NUMERIC, "partition", "offset"]
            return
        ok = F.col("error").isNull()
        status = (F.when(F.col("control"), "control").when(~ok, "bad")
                  .when(F.col("ts_us") >= F.col("_wm"), "ok").otherwise("late"))
        keep = status == "ok"
        self.select = [
            status.alias("status"), F.col("error.reason").alias("reason"),
            F.when(keep, F.col("building_id")).alias("building_id"),
            F.when(keep, F.col("ws")).alias("ws"), *_NUMERIC]
        self.aggregates = [*aggregates.partial_columns(), *correlation.partial_columns()]

    def run(self, df: DataFrame) -> pd.DataFrame:
        return df.select(*self.select).groupBy(*_GROUP).agg(*self.aggregates).toPandas()

    def collect(self, df: DataFrame, wm: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        rows = df.select(*self.select).toPandas()
        for c in _NUMERIC:
            rows[c] = rows[c].astype("float64")
        cut = _NO_WATERMARK if wm is None else int(wm)
        # As `run`'s status: a valid reading without a time compares false, hence late.
        on_time = rows["ts_us"].to_numpy() >= cut
        bad = rows["_bad"].to_numpy(dtype=bool)
        control = rows["control"].to_numpy(dtype=bool)
        keep = ~bad & ~control & on_time
        rows["status"] = np.where(control, "control",
                                  np.where(bad, "bad", np.where(on_time, "ok", "late")))
        rows["building_id"] = rows["building_id"].where(keep, None)
        rows["ws"] = rows["ws"].astype("float64").where(keep)
        sums = aggregates.grouped_partials(rows, _GROUP)
        corr = correlation.grouped_partials(rows, _GROUP)  # same groups, same order
        parts = pd.concat([sums, corr.drop(columns=_GROUP)], axis=1)
        ok = rows[keep]
        readings = pd.DataFrame({
            "building_id": ok["building_id"].to_numpy(),
            "ws": ok["ws"].to_numpy(dtype="int64"),
            "timestamp": pd.to_datetime(ok["ts_us"].to_numpy(dtype="int64"), unit="us"),
            "partition": ok["partition"].to_numpy(dtype="int64"),
            "offset": ok["offset"].to_numpy(dtype="int64"),
            "energy_kwh": ok["energy_kwh"].to_numpy(dtype="float64")})
        return parts, readings


def _of_windows(readings: pd.DataFrame, cands: pd.DataFrame) -> pd.DataFrame:
    """The readings of the candidate windows (READING_COLUMNS)."""
    if cands.empty:
        return pd.DataFrame(columns=list(READING_COLUMNS))
    return readings.merge(cands[list(aggregates.KEY)].astype({"ws": "int64"}),
                          on=list(aggregates.KEY))[list(READING_COLUMNS)]


def _refuse_file_sink_folder(files: Files, cfg: Config) -> None:
    """Spark reads a folder with a `_spark_metadata` log (left by a Spark file sink) through
    that log only, so windows written here would not show."""
    folder = layout.data(cfg, "windows")
    if files.exists(f"{folder}/_spark_metadata"):
        raise WattstreamError(
            f"storage.uri: {folder} holds a Spark file-sink log (_spark_metadata) of an older "
            "job; Spark would read only the files listed there. Move that folder away (or "
            "point storage.uri elsewhere) and delete the old checkpoints under "
            f"{layout.checkpoint(cfg, '')}")


class _Clock:
    def __init__(self):
        self.t = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.t, 4)
        self.t = now


def tracker_of(cfg: Config) -> correlation.PearsonTracker:
    horizon = cfg.job.correlation_horizon_seconds
    length = cfg.windows.length_seconds
    # Correlation sums arrive per window, so buckets are whole windows (about 24 a horizon).
    return correlation.PearsonTracker(horizon, max(1, horizon // 24 // length) * length)


def start(source: DataFrame, cfg: Config, metrics: JobMetrics, trigger: dict,
          batches: Batches | None = None):
    """Start the query on Kafka rows (`value`, `topic`, `partition`, `offset`). `batches` (an
    earlier start's) carries the engine and the alert producer across an in-process restart."""
    spark = source.sparkSession
    _refuse_file_sink_folder(Files(spark), cfg)
    rows = prepare(parse.decode(source, cfg.schema.timezone), cfg.windows.length_seconds,
                   cfg.kafka.weather_topic if weather.enabled(cfg) else "")
    batches = batches or Batches(spark, cfg, metrics)
    batches.restarted()
    query = (rows.writeStream.queryName(QUERY)
             .option("checkpointLocation", layout.checkpoint(cfg, QUERY))
             .trigger(**trigger)
             .foreachBatch(batches)
             .start())
    query.batches = batches  # noqa: B010 - so that stopping can close its producer
    return query
