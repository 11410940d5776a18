"""The job's Prometheus metrics (names fixed by the project's metric contract) and the
StreamingQueryListener that feeds the engine-side ones.

Per-building series are capped at `metrics.max_buildings`: the first buildings seen get series,
later ones are counted in `wattstream_buildings_over_cap` instead of growing cardinality.

With `job.fail_on_data_loss` false the Kafka source skips offsets Kafka no longer has; the
listener finds them in the progress offsets (`offsets.data_losses`) and counts them in
`wattstream_kafka_data_loss_total`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from pyspark.sql.streaming import StreamingQueryListener

from ..baseline.models import STATUSES
from ..baseline.models import status as model_status
from ..config import Config
from ..schema import Reason
from .offsets import TopicPartition, data_losses, kafka_offsets, lag

log = logging.getLogger(__name__)

WINDOW_GAUGES = {
    "energy_kwh": ("wattstream_window_energy_kwh", "running window total energy, kWh"),
    "avg_kwh": ("wattstream_window_avg_kwh", "running window average reading, kWh"),
    "peak_kwh": ("wattstream_window_peak_kwh", "running window peak reading, kWh"),
    "avg_temperature": ("wattstream_window_temperature_celsius",
                        "running window average outdoor temperature, degrees Celsius"),
    "avg_humidity": ("wattstream_window_humidity_percent",
                     "running window average outdoor humidity, percent"),
    "avg_occupancy": ("wattstream_window_occupancy", "running window average occupancy"),
    "expected_kwh": ("wattstream_window_expected_kwh",
                     "baseline model's expected energy of the running window, kWh (NaN "
                     "without a model)"),
}
# The newest closed window of a building, scored against its baseline model.
CLOSED_GAUGES = {
    "energy_kwh": ("wattstream_closed_window_energy_kwh", "newest closed window energy, kWh"),
    "expected_kwh": ("wattstream_closed_window_expected_kwh",
                     "baseline model's expected energy of the newest closed window, kWh"),
    "residual_kwh": ("wattstream_closed_window_residual_kwh",
                     "newest closed window energy minus its expectation, kWh"),
    "std_residual": ("wattstream_closed_window_std_residual",
                     "newest closed window residual in residual standard deviations"),
    "energy_cost": ("wattstream_closed_window_energy_cost",
                    "newest closed window's energy cost under the tariff (tariff.currency)"),
    "co2_kg": ("wattstream_closed_window_co2_kg",
               "newest closed window's emissions, kg CO2e (tariff carbon intensity)"),
}
# Running totals of the closed windows, for increase() over any range.
COST_COUNTERS = {
    "energy_cost": ("wattstream_energy_cost", "energy cost of the closed windows under the "
                    "tariff (tariff.currency)"),
    "co2_kg": ("wattstream_co2_kg", "emissions of the closed windows, kg CO2e"),
}
# Why a building has (or has not) ABNORMAL_USAGE: its model's state.
MODEL_STATUSES = STATUSES
QUERIES = ("engine",)  # the job's query names (stream.QUERY)
LOSS_KINDS = ("gap", "reset")
JOB_STATES = ("starting", "running", "waiting_kafka", "waiting_hdfs", "waiting_storage",
              "restarting")
RESTART_REASONS = ("kafka", "hdfs", "storage")  # faults.REASONS
HEALTHY_BEAT_SECONDS = 60.0  # /healthz fails when the supervisor's loop is silent this long


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        """Nothing: a scrape a second would flood the log."""


class JobMetrics:
    def __init__(self, cfg: Config, registry: CollectorRegistry | None = None):
        self.cfg = cfg
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.max_buildings = cfg.metrics.max_buildings
        self._buildings: set[str] = set()
        self._window_start: dict[str, datetime] = {}
        self.window = {k: Gauge(name, doc, ["building"], registry=r)
                       for k, (name, doc) in WINDOW_GAUGES.items()}
        # Which window the gauges above describe: its hour of week picks the baseline.
        self.window_start = Gauge("wattstream_window_start_timestamp_seconds",
                                  "start of the running window the window gauges show, unix "
                                  "time", ["building"], registry=r)
        self.correlation = Gauge("wattstream_correlation",
                                 "Pearson r of energy with a factor over the sliding horizon",
                                 ["building", "factor"], registry=r)
        self.readings = Counter("wattstream_readings_processed",
                                "valid readings taken in by the job", registry=r)
        self.alerts = Counter("wattstream_alerts", "alerts raised", ["building", "type"],
                              registry=r)
        self.quarantined = Counter("wattstream_quarantined",
                                   "readings sent to the dead-letter topic", ["reason"],
                                   registry=r)
        self.late = Counter("wattstream_late_readings_dropped",
                            "readings dropped as later than the watermark", registry=r)
        self.over_cap = Gauge("wattstream_buildings_over_cap",
                              "buildings seen beyond metrics.max_buildings (no series)",
                              registry=r)
        self.batch = Histogram("wattstream_batch_duration_seconds",
                               "micro-batch duration", ["query"], registry=r,
                               buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120))
        self.input_rate = Gauge("wattstream_input_rows_per_second",
                                "rows per second arriving at a query", ["query"], registry=r)
        self.processed_rate = Gauge("wattstream_processed_rows_per_second",
                                    "rows per second a query processed", ["query"], registry=r)
        self.lag = Gauge("wattstream_kafka_lag_records",
                         "offsets behind the latest, summed over partitions", ["query"],
                         registry=r)
        self.last_progress = Gauge("wattstream_last_progress_timestamp_seconds",
                                   "unix time of the last query progress", ["query"], registry=r)
        self.baseline_loaded = Gauge("wattstream_baseline_loaded",
                                     "1 when a baseline model version is loaded", registry=r)
        self.baseline_version = Gauge("wattstream_baseline_version",
                                      "version of the baseline models in use (0: none)",
                                      registry=r)
        self.model_status = Gauge("wattstream_baseline_model_status",
                                  "1 for a building's model status: passes (ABNORMAL_USAGE "
                                  "on), fails_g14 or too_little_history (off)",
                                  ["building", "status"], registry=r)
        self.model_cv_rmse = Gauge("wattstream_baseline_cv_rmse",
                                   "hourly CV(RMSE) of a building's model on held-back days "
                                   "(ASHRAE Guideline 14 target <= 0.30)", ["building"],
                                   registry=r)
        self.model_nmbe = Gauge("wattstream_baseline_nmbe",
                                "hourly NMBE of a building's model on held-back days "
                                "(target within +-0.10)", ["building"], registry=r)
        self.weather_observations = Counter("wattstream_weather_observations",
                                            "weather observations taken from the weather "
                                            "topic", ["site"], registry=r)
        self.weather_missing = Counter("wattstream_weather_missing",
                                       "readings of buildings with a weather site that had no "
                                       "temperature, own or joined (none fresh enough)",
                                       registry=r)
        self.billing_peak = Gauge("wattstream_billing_peak_kw",
                                  "month-to-date billing peak demand (highest average kW over "
                                  "one tariff.demand_interval_minutes interval)",
                                  ["building"], registry=r)
        self.closed = {k: Gauge(name, doc, ["building"], registry=r)
                       for k, (name, doc) in CLOSED_GAUGES.items()}
        self.cost_totals = {k: Counter(name, doc, ["building"], registry=r)
                            for k, (name, doc) in COST_COUNTERS.items()}
        self.local_time = Counter("wattstream_local_time_mismatches", "readings of closed "
                                  "windows whose day_of_week and hour disagree with their "
                                  "building's zone (calendar.timezones)", ["building"],
                                  registry=r)
        self.local_time_fleet = Counter("wattstream_local_time_mismatches_fleet", "the same "
                                        "for every building, with or without series",
                                        registry=r)
        self.data_loss = Counter("wattstream_kafka_data_loss",
                                 "Kafka offsets a query skipped because Kafka no longer had "
                                 "them: records deleted before being read (kind=gap), or "
                                 "partitions whose offsets went backwards (kind=reset, one "
                                 "per event)", ["query", "topic", "kind"], registry=r)
        # The supervisor's view (job/supervise.py): what the job is doing, its restarts.
        self.state = Gauge("wattstream_job_state", "1 for the job's current state: starting, "
                           "running, waiting_kafka, waiting_hdfs, waiting_storage, restarting",
                           ["state"], registry=r)
        for s in JOB_STATES:
            self.state.labels(s).set(1 if s == "starting" else 0)
        self.restarts = Counter("wattstream_job_restarts", "in-process restarts of the "
                                "streaming query after a transient fault, by the dependency "
                                "that failed", ["reason"], registry=r)
        for reason in RESTART_REASONS:
            self.restarts.labels(reason)
        self.last_batch = Gauge("wattstream_job_last_batch_timestamp_seconds",
                                "unix time the last micro-batch completed", registry=r)
        self.waiting_since = Gauge("wattstream_job_waiting_since_timestamp_seconds",
                                   "unix time the current outage was first seen (0: none)",
                                   registry=r)
        self.retry_attempt = Gauge("wattstream_job_retry_attempt",
                                   "restart attempt of the current outage (0: none)",
                                   registry=r)
        self.next_retry = Gauge("wattstream_job_next_retry_timestamp_seconds",
                                "unix time the next restart attempt is due (0: none)",
                                registry=r)
        # The engine's driver-side state after each batch: what grows with the fleet.
        self.open_windows = Gauge("wattstream_engine_open_windows",
                                  "windows the engine holds open (not yet past the watermark)",
                                  registry=r)
        self.state_bytes = Gauge("wattstream_engine_state_bytes",
                                 "size of the engine state saved with the last batch, bytes",
                                 registry=r)
        self.idle_closes = Counter("wattstream_engine_idle_closes", "times the engine closed "
                                   "its open windows because the input had been idle for "
                                   "windows.idle_close_seconds (job/idle.py)", registry=r)
        # The notifier (job/notify.py): alerts to Alertmanager.
        self.notify_sent = Counter("wattstream_notify_sent", "alerts an Alertmanager accepted",
                                   registry=r)
        self.notify_failed = Counter("wattstream_notify_failed", "failed posts to an "
                                     "Alertmanager (down, slow, 5xx); the alerts are retried",
                                     ["url"], registry=r)
        for url in cfg.notify.alertmanager_urls.split(","):
            if url.strip():
                self.notify_failed.labels(url.strip().rstrip("/"))
        self.notify_refused = Counter("wattstream_notify_refused", "alerts Alertmanager "
                                      "refused (4xx) or unreadable records: not retried, still "
                                      "on Kafka and in Parquet", registry=r)
        self.notify_skipped = Counter("wattstream_notify_skipped", "alerts not notified as "
                                      "raised long after their event (a replay of history: "
                                      "notify.max_event_age_seconds)", registry=r)
        self.notify_resent = Counter("wattstream_notify_resent", "active alerts posted again "
                                     "to an Alertmanager that had restarted (it holds alerts "
                                     "in memory only)", registry=r)
        self.notify_pending = Gauge("wattstream_notify_pending", "alerts on the alerts topic "
                                    "not yet accepted by an Alertmanager", registry=r)
        self.notify_last_success = Gauge("wattstream_notify_last_success_timestamp_seconds",
                                         "unix time an Alertmanager last accepted alerts "
                                         "(0: never)", registry=r)
        self.current_state = "starting"
        self.progress_events = 0  # completed batches and idle checks: the source answered
        self._beat = time.monotonic()
        for reason in Reason.ALL:
            self.quarantined.labels(reason)
        # Present from the start, so that Prometheus' increase() sees the first loss.
        for query in QUERIES:
            for kind in LOSS_KINDS:
                self.data_loss.labels(query, cfg.kafka.readings_topic, kind)
        self._over: set[str] = set()

    def serve(self) -> None:
        """/metrics, and /healthz (200 while the supervisor's loop beats, in any state)."""
        port, host = self.cfg.metrics.job_port, self.cfg.metrics.host
        metrics_app = make_wsgi_app(self.registry)

        def app(environ, start_response):
            if environ.get("PATH_INFO") != "/healthz":
                return metrics_app(environ, start_response)
            age = time.monotonic() - self._beat
            ok = age < HEALTHY_BEAT_SECONDS
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "text/plain")])
            return [(f"ok {self.current_state}\n" if ok else
                     f"no heartbeat for {age:.0f} s ({self.current_state})\n").encode()]

        server = make_server(host, port, app, _Server, handler_class=_QuietHandler)
        threading.Thread(target=server.serve_forever, name="job-metrics", daemon=True).start()
        log.info("metrics on http://%s:%d/metrics", host, port)

    def beat(self) -> None:
        self._beat = time.monotonic()

    def set_state(self, state: str) -> None:
        self.beat()
        for s in JOB_STATES:
            self.state.labels(s).set(1 if s == state else 0)
        if state != self.current_state:
            log.info("job state: %s", state)
        self.current_state = state

    def set_outage(self, since: float | None, attempt: int, next_retry: float) -> None:
        self.waiting_since.set(since or 0)
        self.retry_attempt.set(attempt)
        self.next_retry.set(next_retry)

    def admit(self, building: str) -> bool:
        """True if the building has (or now gets) per-building series."""
        if building in self._buildings:
            return True
        if len(self._buildings) < self.max_buildings:
            self._buildings.add(building)
            return True
        self._over.add(building)
        self.over_cap.set(len(self._over))
        return False

    def set_window(self, row: dict) -> None:
        b = row["building_id"]
        if not self.admit(b):
            return
        # Update mode re-emits older windows that got late readings; show the newest.
        if b in self._window_start and row["window_start"] < self._window_start[b]:
            return
        self._window_start[b] = row["window_start"]
        for k, g in self.window.items():
            v = row.get(k)
            g.labels(b).set(float("nan") if v is None else float(v))
        self.window_start.labels(b).set(_epoch(row["window_start"]))

    def set_models(self, table: pd.DataFrame) -> None:
        """A newly loaded model version (`baseline.Models.table`)."""
        self.baseline_loaded.set(1)
        self.baseline_version.set(int(table["version"].iloc[0]) if len(table) else 0)
        shown = set(self.with_series(list(table["building_id"])))
        for r in table[table["building_id"].isin(shown)].itertuples():
            status = model_status(r.passes, r.reason)
            for s in MODEL_STATUSES:
                self.model_status.labels(r.building_id, s).set(1 if s == status else 0)
            self.model_cv_rmse.labels(r.building_id).set(_nan(r.cv_rmse))
            self.model_nmbe.labels(r.building_id).set(_nan(r.nmbe))

    def set_closed(self, closed: pd.DataFrame) -> None:
        """Gauges of each building's newest closed window; the cost and emission totals."""
        newest = closed.drop_duplicates("building_id", keep="last")
        with_series = self.with_series(list(newest["building_id"]))
        shown = newest[newest["building_id"].isin(with_series)]
        for r in shown.to_dict("records"):
            for k, g in self.closed.items():
                g.labels(r["building_id"]).set(_nan(r.get(k)))
        rows = closed[closed["building_id"].isin(with_series)]
        if "local_time_mismatches" in closed:
            off = closed[closed["local_time_mismatches"] > 0]
            if not off.empty:
                self.local_time_fleet.inc(int(off["local_time_mismatches"].sum()))
                shown_off = off[off["building_id"].isin(with_series)]
                for b, n in shown_off.groupby("building_id")["local_time_mismatches"].sum().items():
                    self.local_time.labels(b).inc(int(n))
        if rows.empty or "energy_cost" not in rows:
            return
        sums = rows.groupby("building_id")[list(COST_COUNTERS)].sum()
        for b, r in sums.iterrows():
            for k, c in self.cost_totals.items():
                if r[k] > 0:
                    c.labels(b).inc(float(r[k]))

    def set_billing_peaks(self, peaks: pd.DataFrame) -> None:
        """The month-to-date peaks of the buildings in `peaks` (`peak.STATE_COLUMNS`)."""
        shown = peaks[peaks["building_id"].isin(self.with_series(list(peaks["building_id"])))]
        for b, kw in zip(shown["building_id"], shown["peak_kw"], strict=True):
            self.billing_peak.labels(b).set(_nan(kw))

    def set_windows(self, rows) -> None:
        """`set_window` for a pandas DataFrame of window updates: per building its newest
        window only, and only the buildings with series (a batch may touch 100 000)."""
        newest = rows.sort_values("window_start", kind="stable").drop_duplicates(
            "building_id", keep="last")
        self.admit_all(newest["building_id"])
        shown = newest[newest["building_id"].isin(self._buildings)]
        for r in shown.to_dict("records"):
            self.set_window(r)

    def with_series(self, buildings) -> list[str]:
        """The buildings (admitted now if there is room) that have per-building series."""
        self.admit_all(buildings)
        return [b for b in buildings if b in self._buildings]

    def admit_all(self, buildings) -> None:
        """`admit` for many buildings at once (those beyond the cap are counted)."""
        new = [b for b in dict.fromkeys(buildings) if b not in self._buildings]
        room = max(0, self.max_buildings - len(self._buildings))
        self._buildings.update(new[:room])
        if len(new) > room:
            self._over.update(new[room:])
            self.over_cap.set(len(self._over))

    def set_correlations(self, building: str, values: dict) -> None:
        if not self.admit(building):
            return
        for factor, r in values.items():
            self.correlation.labels(building, factor).set(float("nan") if r is None else float(r))

    def count_alert(self, building: str, kind: str) -> None:
        self.alerts.labels(building if self.admit(building) else "_other", kind).inc()


def _nan(v) -> float:
    return float("nan") if v is None or pd.isna(v) else float(v)


def _epoch(ts) -> float:
    """Unix time of a window start (naive timestamps are UTC, as the session's)."""
    t = pd.Timestamp(ts)
    return (t.tz_localize("UTC") if t.tzinfo is None else t).timestamp()


class ProgressListener(StreamingQueryListener):
    """Per query progress → batch duration, rates, Kafka lag, last progress time, data loss.
    (Late and quarantined readings are counted by the engine, which sees them.)"""

    def __init__(self, metrics: JobMetrics):
        self.m = metrics
        self.last_batch: dict[str, int] = {}  # query name -> last batch id reported
        # (query, source) -> where its last batch ended
        self.offsets: dict[tuple[str, str], dict[TopicPartition, int]] = {}
        # Idle events carry only the query's id: its name comes from the start event.
        self.names: dict[str, str] = {}

    def onQueryStarted(self, event):
        self.names[str(event.id)] = event.name or str(event.id)
        log.info("query %s started", event.name)

    def onQueryProgress(self, event):
        p = event.progress
        name = p.name or str(p.id)
        self.on_progress(name, json.loads(p.json))

    def on_progress(self, name: str, p: dict) -> None:
        m = self.m
        m.last_progress.labels(name).set(time.time())
        if p.get("batchDuration") is not None and p.get("numInputRows", 0) > 0:
            m.batch.labels(name).observe(p["batchDuration"] / 1000.0)
        m.input_rate.labels(name).set(float(p.get("inputRowsPerSecond") or 0.0))
        m.processed_rate.labels(name).set(float(p.get("processedRowsPerSecond") or 0.0))
        lags = [x for x in (lag(s) for s in p.get("sources") or []) if x is not None]
        if lags:
            m.lag.labels(name).set(sum(lags))
        for source in p.get("sources") or []:
            self._count_data_loss(name, source)
        m.last_batch.set(time.time())
        m.progress_events += 1
        self.last_batch[name] = p.get("batchId", -1)  # last: whoever waits on it sees the rest

    def _count_data_loss(self, name: str, source: dict) -> None:
        start, end = (kafka_offsets(source.get(k)) for k in ("startOffset", "endOffset"))
        if not start and not end:  # not a Kafka source, or nothing to compare yet
            return
        key = (name, str(source.get("description")))
        rows = source.get("numInputRows")
        for loss in data_losses(self.offsets.get(key, {}), start, end,
                                None if rows is None else int(rows)):
            self.m.data_loss.labels(name, loss.topic, loss.kind).inc(loss.records)
            log.warning("query %s skipped Kafka data it had not read (%s) in topic %s, %s%s",
                        name, loss.kind, loss.topic, loss.where,
                        "; the log was wiped or the topic recreated" if loss.kind == "reset"
                        else "")
        self.offsets[key] = end

    def onQueryIdle(self, event):
        # An idle query is alive: without this the stalled alert fires on a quiet topic.
        self.m.last_progress.labels(self.names.get(str(event.id), str(event.id))).set(
            time.time())
        self.m.progress_events += 1  # the source answered: nothing new

    def onQueryTerminated(self, event):
        if event.exception:
            log.error("query %s failed: %s", event.id, event.exception)
