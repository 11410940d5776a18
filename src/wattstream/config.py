"""The one typed configuration of wattstream: a YAML file plus environment overrides.

    config = load_config("wattstream.yaml")          # or load_config() for the defaults

Every section is a frozen dataclass whose fields carry a description and bounds. Loading checks
every key and value and fails with `ConfigError` naming the key (`kafka.partitions: must be >= 1`).

Environment overrides take the form `WATTSTREAM_<SECTION>__<KEY>=value` (value parsed as YAML),
e.g. `WATTSTREAM_KAFKA__BOOTSTRAP_SERVERS=broker:9092`. `WATTSTREAM_CONFIG` names the file.
The Helm chart renders its values into this same file format.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .errors import ConfigError
from .specs import check_days_off, check_hours, check_tariff, check_zone

ENV_PREFIX = "WATTSTREAM_"
ENV_FILE = "WATTSTREAM_CONFIG"


def _f(default: Any, doc: str, *, minimum: float | None = None, maximum: float | None = None,
       choices: tuple | None = None, pattern: str | None = None,
       schema: Mapping[str, Any] | None = None) -> Any:
    """A config field: `doc` is its one description (the chart's schema and values comments
    are generated from it); `schema` adds JSON Schema keywords the bounds cannot say."""
    meta = {"doc": doc, "min": minimum, "max": maximum, "choices": choices, "pattern": pattern,
            "schema": schema}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


_TOPIC = r"^[A-Za-z0-9._-]{1,249}$"
_NONEMPTY = {"minLength": 1}
_HOLIDAYS = r"^$|^[A-Z]{2,3}(-[A-Za-z0-9]{1,4})?$"


@dataclass(frozen=True)
class KafkaConfig:
    """Kafka topics and client settings."""

    bootstrap_servers: str = _f("127.0.0.1:9092", "comma-separated host:port list")
    readings_topic: str = _f("energy_data", "topic of raw readings", pattern=_TOPIC)
    alerts_topic: str = _f("energy_alerts", "topic of alerts", pattern=_TOPIC)
    dead_letter_topic: str = _f("energy_data_dlq", "topic of quarantined readings", pattern=_TOPIC)
    weather_topic: str = _f("energy_weather", "topic of site weather observations (site, "
                            "timestamp, temperature, humidity) the job joins to buildings by "
                            "weather.sites; empty: none", pattern=r"^$|" + _TOPIC)
    partitions: int = _f(6, "partitions of the readings topic", minimum=1, maximum=10_000)
    replication_factor: int = _f(1, "replication factor of created topics", minimum=1, maximum=10)
    security_protocol: str = _f("PLAINTEXT", "how clients talk to the brokers",
                                choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"))
    sasl_mechanism: str = _f("SCRAM-SHA-512", "SASL mechanism (with a SASL_* protocol)",
                             choices=("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"))
    sasl_username: str = _f("", "SASL user (with a SASL_* protocol)")
    sasl_password_file: str = _f("", "file holding the SASL password, e.g. a mounted Secret")
    ssl_cafile: str = _f("", "PEM CA bundle that signed the brokers' certificates (SSL, "
                         "SASL_SSL); empty trusts the system's CAs")


@dataclass(frozen=True)
class StorageConfig:
    """Where windows, alerts and checkpoints land."""

    uri: str = _f(".run/warehouse", "where windows and alerts land as Parquet (file:// or hdfs://)")
    checkpoint_uri: str = _f(".run/checkpoints", "Spark checkpoint root (file:// or hdfs://)")


@dataclass(frozen=True)
class WindowConfig:
    """Event-time windows."""

    length_seconds: int = _f(300, "tumbling event-time window length", minimum=1, maximum=86_400)
    watermark_seconds: int = _f(120, "how late a reading may arrive and still count",
                                minimum=0, maximum=7 * 86_400)
    idle_close_seconds: int = _f(300, "close the open windows as if the watermark had passed "
                                 "them once no reading has arrived for this long of "
                                 "processing time (a replay's last windows); 0: only event "
                                 "time closes windows", minimum=0, maximum=7 * 86_400)


@dataclass(frozen=True)
class ThresholdOverride:
    """One building's own alert thresholds."""

    high_consumption_kwh: float | None = _f(None, "HIGH_CONSUMPTION threshold for this building",
                                            minimum=0)
    peak_demand_kwh: float | None = _f(None, "PEAK_DEMAND threshold for this building", minimum=0)


@dataclass(frozen=True)
class AlertConfig:
    """Alert thresholds and detectors."""

    high_consumption_kwh: float = _f(150.0, "window energy that raises HIGH_CONSUMPTION", minimum=0)
    peak_demand_kwh: float = _f(180.0, "window energy that raises PEAK_DEMAND; at least "
                                   "high_consumption_kwh", minimum=0)
    abnormal_sigma: float = _f(3.0, "ABNORMAL_USAGE when a closed window's energy is this many "
                               "residual standard deviations from its baseline's expectation",
                               minimum=0.1, maximum=100)
    abnormal_consecutive: int = _f(2, "ABNORMAL_USAGE only after this many consecutive windows "
                                   "past abnormal_sigma (once per run of such windows)",
                                   minimum=1, maximum=288)
    abnormal_direction: str = _f("above", "which residuals count: above the expectation only "
                                 "(waste) or both", choices=("above", "both"))
    stuck_windows: int = _f(3, "STUCK_METER after this many consecutive closed windows whose "
                            "readings all repeat one non-zero value", minimum=1, maximum=288)
    gap_seconds: int = _f(600, "METER_GAP when a building that reported has sent nothing for "
                          "this long of event time (behind the watermark)", minimum=60,
                          maximum=7 * 86_400)
    peak_margin: float = _f(0.0, "PEAK_AT_RISK when a billing interval's projected demand "
                            "exceeds the billing month's peak by more than this share",
                            minimum=0, maximum=10)
    peak_lead_minutes: float = _f(5.0, "PEAK_AT_RISK only while at least this many minutes "
                                  "of the billing interval remain", minimum=0, maximum=1440)
    peak_min_history_hours: float = _f(24.0, "no PEAK_AT_RISK before the billing month has "
                                       "this many hours of intervals (early intervals set a "
                                       "new peak one after another)", minimum=0,
                                       maximum=31 * 24)
    quiet_before: str = _f("", "alerts of events before this time (ISO 8601 with a zone) are "
                           "stored in Parquet but not sent to Kafka, counted or printed, so a "
                           "backfilled history pages no one; empty: none")
    buildings: dict[str, ThresholdOverride] = _f({}, "per-building threshold overrides")

    def thresholds(self, building_id: str) -> tuple[float, float]:
        """(high consumption, peak demand) thresholds for one building."""
        o = self.buildings.get(building_id)
        high = o.high_consumption_kwh if o and o.high_consumption_kwh is not None else None
        peak = o.peak_demand_kwh if o and o.peak_demand_kwh is not None else None
        return (
            self.high_consumption_kwh if high is None else high,
            self.peak_demand_kwh if peak is None else peak,
        )


@dataclass(frozen=True)
class NotifyConfig:
    """Notifications: the job posts every alert it raises to Alertmanager, which routes it
    to people."""

    alertmanager_urls: str = _f("", "comma-separated Alertmanager base URLs the job posts each "
                                "alert to (every member of an HA set: each gets every alert); "
                                "empty: no notifications (alerts still go to Kafka and "
                                "Parquet)", pattern=r"^$|^https?://[^,\s]+(\s*,\s*https?://[^,\s]+)*$")
    consumer_group: str = _f("wattstream-notify", "Kafka consumer group whose committed "
                             "offsets on the alerts topic mark what Alertmanager accepted",
                             pattern=r"^[A-Za-z0-9._-]{1,249}$")
    timeout_seconds: float = _f(5.0, "one POST to one Alertmanager", minimum=0.1, maximum=300)
    retry_initial_seconds: float = _f(0.5, "first delay after every Alertmanager refused or "
                                      "did not answer, doubling per failed attempt",
                                      minimum=0.01, maximum=3600)
    retry_max_seconds: float = _f(30.0, "cap of that delay (the alerts wait on Kafka, none is "
                                  "dropped)", minimum=0.01, maximum=3600)
    batch_max: int = _f(500, "alerts per POST", minimum=1, maximum=100_000)
    resend_seconds: int = _f(60, "how often the notifier asks each Alertmanager when it "
                             "started (/api/v2/status); to one that restarted it posts again "
                             "every alert still active, since Alertmanager holds alerts in "
                             "memory only; 0: never", minimum=0, maximum=86_400)
    max_event_age_seconds: int = _f(3600, "alerts the job raised this long after their event "
                                    "(a replay or backfill of history) are not notified, only "
                                    "counted (wattstream_notify_skipped_total); an "
                                    "Alertmanager outage does not age an alert; 0: notify "
                                    "all", minimum=0, maximum=365 * 86_400)
    link_url: str = _f("", "link in each notification, {building} filled in (e.g. a Grafana "
                       "dashboard URL with ?var-building={building}); empty: none")
    labels: dict[str, str] = _f({}, "labels added to every notification (e.g. namespace: an "
                                "AlertmanagerConfig of the Prometheus Operator routes only "
                                "the alerts that carry its namespace)",
                                schema={"propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}})


@dataclass(frozen=True)
class WeatherConfig:
    """Weather from the weather topic for readings without their own."""

    sites: dict[str, str] = _f({}, "building id → weather site, for readings that carry no "
                               "temperature (or humidity) of their own",
                               schema={"additionalProperties": _NONEMPTY})
    default_site: str = _f("", "weather site of the buildings not in sites; empty: none")
    max_staleness_seconds: int = _f(3600, "a weather observation applies to readings up to "
                                    "this long after it (as-of join in event time); older "
                                    "means no weather, counted", minimum=60, maximum=7 * 86_400)


@dataclass(frozen=True)
class CalendarConfig:
    """Each building's local time: hour of the week of the baselines, scoring and the
    generator's schedules; readings' day_of_week and hour are checked against it."""

    timezone: str = _f("UTC", "local time zone (IANA name) of the buildings that timezones "
                       "does not name: their hour of the week (baselines, scoring, the "
                       "generator's schedules) and the check of their readings' "
                       "day_of_week and hour", schema=_NONEMPTY)
    timezones: dict[str, str] = _f({}, "building id, weather site (weather.sites) or "
                                   "building-id pattern (shell glob, e.g. 'east-*') → IANA "
                                   "zone; a building's own entry first, then its site's, "
                                   "then the first matching pattern in file order",
                                   schema={"additionalProperties": _NONEMPTY})
    holidays: dict[str, str] = _f({}, "building id, weather site or building-id pattern → "
                                  "public holidays of a country and optional subdivision "
                                  "(ISO 3166: US-NY, GB-ENG, DE-BY; the `holidays` package), "
                                  "resolved like timezones; '' for none",
                                  schema={"additionalProperties": {"pattern": _HOLIDAYS}})
    default_holidays: str = _f("", "public holidays of the buildings holidays does not name "
                               "(e.g. US); empty: none",
                               pattern=_HOLIDAYS)
    closures: dict[str, str] = _f({}, "building id, weather site or building-id pattern → "
                                  "closure days on its local calendar: a comma list of dates "
                                  "and inclusive ranges (2026-12-24..2027-01-01, 2026-08-03)")


@dataclass(frozen=True)
class TouPeriod:
    """One time-of-use period of a tariff."""

    JSON_SCHEMA: ClassVar[dict] = {"required": ["price_per_kwh"]}

    price_per_kwh: float | None = _f(None, "energy price in this period (currency per kWh); "
                                     "required", minimum=0, schema={"type": "number"})
    days: str = _f("mon-sun", "days of the week, a comma list of days and ranges (mon-fri, "
                   "sat,sun)", schema=_NONEMPTY)
    hours: str = _f("0-24", "hours of the day in tariff.timezone, a comma list of half-open "
                    "ranges (12-18 is 12:00 to 18:00; 22-6 wraps past midnight)", schema=_NONEMPTY)
    months: str = _f("1-12", "months of the season, a comma list of inclusive ranges (6-9; "
                     "11-2 wraps past December)", schema=_NONEMPTY)


# Keys a tariff change may name; the ones it leaves out keep the previous version's value.
TARIFF_VERSIONED = ("energy_price_per_kwh", "periods", "demand_charge_per_kw", "ratchet_share",
                    "ratchet_months", "fixed_charge_per_month", "carbon_kg_per_kwh",
                    "carbon_profile")


@dataclass(frozen=True)
class TariffChange:
    """A later tariff version: only the keys it names change."""

    JSON_SCHEMA: ClassVar[dict] = {"minProperties": 1}

    energy_price_per_kwh: float | None = _f(None, "new energy price outside the periods",
                                            minimum=0)
    periods: dict[str, TouPeriod] | None = _f(None, "new time-of-use periods (all of them; {} "
                                              "for none)")
    demand_charge_per_kw: float | None = _f(None, "new demand charge per kW", minimum=0)
    ratchet_share: float | None = _f(None, "new ratchet share", minimum=0, maximum=1)
    ratchet_months: int | None = _f(None, "new ratchet look-back", minimum=1, maximum=36)
    fixed_charge_per_month: float | None = _f(None, "new fixed charge", minimum=0)
    carbon_kg_per_kwh: float | None = _f(None, "new grid carbon intensity", minimum=0,
                                         maximum=5)
    carbon_profile: str | None = _f(None, "new carbon profile file")


@dataclass(frozen=True)
class TariffConfig:
    """What the utility bills and the grid emits: prices by time of use, demand charge with
    an optional ratchet, fixed charge, carbon intensity, later versions."""

    timezone: str = _f("UTC", "zone of the tariff's clock: time-of-use hours, effective dates "
                       "and the billing day (IANA name)", schema=_NONEMPTY)
    energy_price_per_kwh: float = _f(0.12, "energy price outside every time-of-use period "
                                     "(currency per kWh)", minimum=0)
    periods: dict[str, TouPeriod] = _f({}, "time-of-use periods by name (e.g. on_peak), each "
                                       "with its price, days, hours and months; periods may "
                                       "not overlap")
    demand_charge_per_kw: float = _f(15.0, "demand charge per kW of a billing month's peak "
                                     "demand (currency units)", minimum=0)
    ratchet_share: float = _f(0.0, "demand ratchet: the billed demand is at least this share "
                              "of the highest peak of the last ratchet_months billing months; "
                              "0: no ratchet", minimum=0, maximum=1)
    ratchet_months: int = _f(11, "billing months the ratchet looks back over", minimum=1,
                             maximum=36)
    fixed_charge_per_month: float = _f(0.0, "fixed charge per billing month (currency units)",
                                       minimum=0)
    carbon_kg_per_kwh: float = _f(0.35, "grid carbon intensity, kg CO2e per kWh, where the "
                                  "profile has no value", minimum=0, maximum=5)
    carbon_profile: str = _f("", "CSV of the grid's carbon intensity (kg_per_kwh) by hour: "
                             "either an `hour` column (0-23, tariff.timezone) or a "
                             "`timestamp` column (ISO 8601, hourly series); empty: the "
                             "constant")
    changes: dict[str, TariffChange] = _f({}, "later tariff versions by effective date "
                                          "(YYYY-MM-DD, from 00:00 in tariff.timezone); each "
                                          "names only what changes, earlier history keeps "
                                          "the earlier prices",
                                          schema={"propertyNames": {
                                              "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}})
    demand_interval_minutes: int = _f(15, "billing demand interval: the peak is the highest "
                                      "average kW over one such interval; a multiple of the "
                                      "window length", minimum=1, maximum=1440)
    billing_day: int = _f(1, "day of the month a billing period starts (00:00 in "
                          "tariff.timezone)", minimum=1, maximum=28)
    currency: str = _f("USD", "currency of the charges (ISO 4217 code)", pattern=r"^[A-Z]{3}$")


@dataclass(frozen=True)
class BaselineConfig:
    """Baseline models fitted by `wattstream baseline` and used by the job."""

    uri: str = _f("", "folder of the versioned baseline models (file:// or hdfs://); empty "
                  "means <storage.uri>/baseline")
    holdout_days: int = _f(7, "the last days of the stored windows held back to score each "
                           "building's model (ASHRAE Guideline 14)", minimum=1, maximum=90)
    min_train_days: int = _f(14, "days of windows a building needs before the held-back ones",
                             minimum=1, maximum=730)
    max_cv_rmse: float = _f(0.30, "a model passes Guideline 14 with an hourly CV(RMSE) at most "
                            "this on the held-back days", minimum=0.01, maximum=10)
    max_abs_nmbe: float = _f(0.10, "… and an hourly NMBE within plus or minus this",
                             minimum=0.001, maximum=10)
    occupied_share: float = _f(0.65, "an hour of the week is occupied when more than this share "
                               "of its loads lie above a straight load-on-temperature fit",
                               minimum=0.5, maximum=0.99)
    recency_half_life_days: float = _f(60.0, "weight of a window in the fit halves every this "
                                       "many days of age (the newest weighs 1), so a model "
                                       "follows the building's recent schedule and season; 0: "
                                       "all windows weigh the same", minimum=0, maximum=3650)
    poll_seconds: float = _f(30.0, "how often the job looks for a newer model version",
                             minimum=1, maximum=86_400)


@dataclass(frozen=True)
class RecommendConfig:
    """Recommendation rules of the report (analytics/rules.py)."""

    min_peers: int = _f(3, "peer comparisons need at least this many other buildings of the "
                        "same type (the whole fleet where types are unknown); fewer: no "
                        "comparison", minimum=1, maximum=10_000)
    night_hours: str = _f("0-5", "hours of the night (each building's local time, half-open "
                          "ranges) whose load is the base load", schema={"minLength": 3})
    base_load_ratio: float = _f(1.5, "base load (night kW per m2, or per kW of average load "
                                "without floor areas) this many times the peers' median",
                                minimum=1, maximum=100)
    after_hours_excess: float = _f(0.4, "closed hours whose load exceeds the building's "
                                   "typical load of that hour of the week (weather-adjusted) "
                                   "by this share, and by 3 robust deviations, for 2 hours "
                                   "or more, count as left on", minimum=0.01, maximum=100)
    after_hours_share_margin: float = _f(0.10, "share of energy outside the schedule above "
                                         "the peers' median by more than this", minimum=0,
                                         maximum=1)
    weekend_ratio: float = _f(0.8, "weekend daily energy at least this share of weekday "
                              "daily energy …", minimum=0, maximum=10)
    weekend_peer_margin: float = _f(0.15, "… and above the peers' share by this much",
                                    minimum=0, maximum=10)
    peak_shave_hours: float = _f(2.0, "peak shaving caps each billing month's demand at the "
                                 "level its highest this-many hours of intervals exceed",
                                 minimum=0.25, maximum=100)
    peak_shave_share: float = _f(0.10, "… recommended when the cap lowers the peak by at "
                                 "least this share", minimum=0, maximum=1)
    temperature_slope_ratio: float = _f(1.5, "heating or cooling slope per m2 (or per kWh "
                                        "of a day) this many times the peers' median",
                                        minimum=1, maximum=100)
    load_factor_ratio: float = _f(0.8, "load factor (average over peak kW) below this share "
                                  "of the peers' median", minimum=0, maximum=1)
    data_quality_share: float = _f(0.002, "missing or stuck windows at least this share of "
                                   "the period", minimum=0, maximum=1)
    min_annual_saving: float = _f(0.0, "recommendations worth less a year (currency) are left "
                                  "out", minimum=0)


@dataclass(frozen=True)
class ReportConfig:
    """The energy report."""

    buildings_file: str = _f("", "CSV of building metadata (building_id, type, "
                             "floor_area_m2) for peer comparisons; empty: none (peers are "
                             "the whole fleet, loads compared per kW of average load)")
    days: int = _f(30, "the report covers the last this many days of stored windows unless "
                   "--from/--to say otherwise", minimum=1, maximum=3660)
    top: int = _f(50, "recommendations listed on the portfolio page", minimum=1,
                  maximum=100_000)
    building_pages: int = _f(10, "building pages in the report: the buildings with the most "
                             "to save (more on demand with --building)", minimum=0,
                             maximum=1000)
    output_uri: str = _f("", "folder the scheduled report is written to (file:// or "
                         "hdfs://); empty means <storage.uri>/reports")
    driver_memory: str = _f("3g", "Spark driver heap of `wattstream report` (it collects the "
                            "hourly table: about 1.5 GB for a month of 10 000 buildings)",
                            pattern=r"^[1-9][0-9]*[mg]$")


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus /metrics endpoints."""

    host: str = _f("127.0.0.1", "address the /metrics endpoints bind to (0.0.0.0 in a pod)")
    job_port: int = _f(9108, "port of the streaming job's /metrics", minimum=1, maximum=65535)
    generator_port: int = _f(9109, "port of the generator's /metrics (0 disables it)",
                             minimum=0, maximum=65535)
    max_buildings: int = _f(1000, "at most this many buildings get per-building series",
                            minimum=0, maximum=100_000)


@dataclass(frozen=True)
class SchemaConfig:
    """Reading parsing."""

    timezone: str = _f("", "zone assumed for timestamps without one (IANA name); empty rejects "
                       "them")


@dataclass(frozen=True)
class GeneratorConfig:
    """The reading generator (one replica)."""

    buildings: int = _f(20, "buildings simulated by one replica", minimum=1, maximum=1_000_000)
    interval_seconds: float = _f(5.0, "event-time spacing of one building's readings",
                                 minimum=0.001, maximum=3600)
    seed: int = _f(42, "seed of the building model and anomalies", minimum=0)
    replica_id: str = _f("", "replica identity (pod name); empty means replica 0")
    anomaly_kinds: str = _f("all", "injected anomaly kinds: all, none, or a comma list of "
                            "hvac_overnight, equipment_spike, stuck_meter, sensor_dropout")
    anomaly_rate_per_day: float = _f(0.5, "anomalies started per building and day of event time",
                                     minimum=0, maximum=1000)
    labels_path: str = _f("", "JSON-lines file of anomaly labels; empty writes none")
    linger_ms: int = _f(20, "Kafka producer linger.ms (batching delay)", minimum=0,
                        maximum=60_000)
    batch_size_bytes: int = _f(262_144, "Kafka producer batch.size", minimum=1024,
                               maximum=16_777_216)
    compression: str = _f("gzip", "Kafka producer compression", choices=("none", "gzip"))
    max_pending_records: int = _f(100_000, "readings the Kafka client holds unacknowledged "
                                  "(the memory tier); beyond it realtime readings go to the "
                                  "spool and backfill or replay wait", minimum=1,
                                  maximum=10_000_000)
    connect_timeout_seconds: float = _f(30.0, "wait for the broker and topic at start before "
                                        "failing", minimum=0.1, maximum=3600)
    spool_dir: str = _f("", "folder of the on-disk spool that keeps readings while Kafka is "
                        "away, one per replica; empty means <local.run_dir>/spool/<replica id>")
    spool_max_bytes: int = _f(1 << 30, "bound of the spool in bytes, counting the readings "
                              "still unacknowledged; when full the generator stops (exit 1)",
                              minimum=1 << 20, maximum=1 << 40)
    demo: bool = _f(False, "realtime demo: the first buildings are large (a hospital, an "
                    "office), event time starts at a busy weekday hour and an equipment_spike "
                    "is injected into building 0 after 10 s, so alerts fire within minutes "
                    "at the default thresholds")
    weather_site: str = _f("", "send readings as a meter does, without temperature or "
                           "humidity, and this site's weather to kafka.weather_topic instead; "
                           "empty: weather inside each reading")
    weather_interval_seconds: float = _f(300.0, "event-time spacing of the weather "
                                         "observations (with weather_site)", minimum=1,
                                         maximum=86_400)
    demo_start: str = _f("", "event time the demo starts at (ISO 8601 with a zone, not in the "
                         "future); empty means the latest weekday 10:00 UTC before the generator "
                         "starts")


@dataclass(frozen=True)
class JobConfig:
    """Streaming job tuning."""

    trigger_seconds: float = _f(0.25, "micro-batch trigger interval of the job's query "
                                "(alerts, the live view, final windows)", minimum=0,
                                maximum=3600)
    max_offsets_per_trigger: int = _f(200_000, "cap of readings per micro-batch", minimum=1)
    crossing_in_pass_max_readings: int = _f(
        50_000, "a micro-batch after one of at most this many messages finds its "
        "threshold-crossing readings in the same Spark pass as its sums (one job per batch: "
        "the low-latency path; every batch when max_offsets_per_trigger is at most this); "
        "after a larger one, or first after a start, the batch is cached and the readings of "
        "the windows that may cross are collected in a second job, cheaper for big batches; "
        "0: always the second job", minimum=0, maximum=100_000_000)
    shuffle_partitions: int = _f(2, "spark.sql.shuffle.partitions (about the total "
                                "executor cores)", minimum=1, maximum=10_000)
    starting_offsets: str = _f("earliest", "where a new query starts reading",
                               choices=("earliest", "latest"))
    master: str = _f("local[2]", "Spark master when not submitted by spark-submit")
    correlation_horizon_seconds: int = _f(86_400, "sliding event-time horizon of the "
                                          "energy correlation gauges", minimum=60,
                                          maximum=90 * 86_400)
    fail_on_data_loss: bool = _f(True, "stop a query when Kafka no longer holds the offsets its "
                                 "checkpoint expects (log wiped, topic recreated, retention "
                                 "past unread data); false skips ahead, counts the loss in "
                                 "wattstream_kafka_data_loss_total and logs a warning: only "
                                 "for brokers on throwaway storage, e.g. on kind")
    restart_initial_seconds: float = _f(1.0, "after a transient fault (Kafka, HDFS or the "
                                        "storage path away) the query is restarted from its "
                                        "checkpoint in the same process after this delay, "
                                        "doubling per failed attempt; /metrics and /healthz "
                                        "stay up meanwhile", minimum=0.01,
                                        maximum=3600)
    restart_max_seconds: float = _f(60.0, "cap of the restart delay", minimum=0.01,
                                    maximum=86_400)
    restart_max_attempts: int = _f(0, "give up (exit 1) after this many restart attempts of "
                                   "one outage; 0: never (the job waits as long as the "
                                   "outage lasts)", minimum=0, maximum=1_000_000)
    task_max_failures: int = _f(4, "attempts of a failed Spark task before its stage fails "
                                "(spark.task.maxFailures; in local mode local[N,F]): a Kafka "
                                "or HDFS timeout in one task is retried inside the batch "
                                "before the query restarts", minimum=1, maximum=100)
    jvm_log: str = _f("", "file the local JVM's console output (Spark's log4j, JVM warnings) "
                      "is appended to when the job starts Spark itself; empty leaves it on "
                      "the job's stderr (`local run` sets <local.run_dir>/logs/job.log)")


@dataclass(frozen=True)
class LocalConfig:
    """The single-machine stack (`make run`, `wattstream local`)."""

    run_dir: str = _f(".run", "pid files, logs and data of the local stack")
    kafka_port: int = _f(9092, "local broker port", minimum=1, maximum=65535)
    kafka_controller_port: int = _f(9093, "local KRaft controller port", minimum=1, maximum=65535)
    hdfs_port: int = _f(9000, "local NameNode RPC port", minimum=1, maximum=65535)
    hdfs_http_port: int = _f(9870, "local NameNode web port", minimum=1, maximum=65535)
    datanode_port: int = _f(9866, "local DataNode data port", minimum=1, maximum=65535)
    datanode_http_port: int = _f(9864, "local DataNode web port", minimum=1, maximum=65535)
    datanode_ipc_port: int = _f(9867, "local DataNode IPC port", minimum=1, maximum=65535)
    prometheus_port: int = _f(9090, "local Prometheus port", minimum=1, maximum=65535)
    alertmanager_port: int = _f(9095, "local Alertmanager port (not its usual 9093: the "
                                "local KRaft controller's)", minimum=1, maximum=65535)
    receiver_port: int = _f(9096, "local webhook receiver the local Alertmanager notifies",
                            minimum=1, maximum=65535)
    hdfs: bool = _f(True, "start HDFS with `local up`")
    prometheus: bool = _f(True, "start Prometheus with `local up`")
    alertmanager: bool = _f(True, "start Alertmanager and its webhook receiver with `local "
                            "up`; `local run` then points notify.alertmanager_urls at it "
                            "unless that is set")
    start_timeout_seconds: float = _f(120.0, "how long `local up` waits for each service",
                                      minimum=1, maximum=3600)
    demo: bool = _f(True, "`local run` runs the generator in demo mode (generator.demo: large "
                    "buildings, a busy event hour, an early labelled spike); --no-demo turns "
                    "it off for one run")
    demo_history_days: int = _f(21, "with the demo on a fresh topic, `local run` first "
                                "backfills this many days of the demo fleet (no anomalies) "
                                "before the demo's start and fits the baselines from them, so "
                                "expected energy, ABNORMAL_USAGE and PEAK_AT_RISK work from the "
                                "first minutes; 0 turns it off", minimum=0, maximum=365)


@dataclass(frozen=True)
class Config:
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    windows: WindowConfig = field(default_factory=WindowConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    tariff: TariffConfig = field(default_factory=TariffConfig)
    weather: WeatherConfig = field(default_factory=WeatherConfig)
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    schema: SchemaConfig = field(default_factory=SchemaConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    job: JobConfig = field(default_factory=JobConfig)
    local: LocalConfig = field(default_factory=LocalConfig)

    def replace(self, **sections: Mapping[str, Any]) -> Config:
        """A copy with some keys changed, validated like a file: `cfg.replace(kafka={...})`."""
        data = to_dict(self)
        for name, changes in sections.items():
            if name not in data:
                raise ConfigError(f"{name}: unknown section")
            data[name] = {**data[name], **changes}
        return from_dict(data)


# --- loading ---------------------------------------------------------------------------------

def _check_value(key: str, tp: Any, value: Any, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _check_value(key, args[0], value, meta)
    if origin is dict:
        _, vtype = typing.get_args(tp)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: must be a mapping, got {type(value).__name__}")
        if dataclasses.is_dataclass(vtype):
            return {str(k): _build(f"{key}.{k}", vtype, v) for k, v in value.items()}
        return {str(k): _check_value(f"{key}.{k}", vtype, v, {}) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer, got {value!r}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {value!r}")
        value = float(value)
    elif tp is str:
        if isinstance(value, date):  # YAML reads an unquoted ISO timestamp as a datetime
            value = value.isoformat()
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {value!r}")
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"{key}: must be >= {meta['min']}, got {value!r}")
    if meta.get("max") is not None and value > meta["max"]:
        raise ConfigError(f"{key}: must be <= {meta['max']}, got {value!r}")
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{key}: must be one of {', '.join(meta['choices'])}, got {value!r}")
    if meta.get("pattern") and not re.match(meta["pattern"], value):
        raise ConfigError(f"{key}: {value!r} does not match {meta['pattern']}")
    return value


def _build(prefix: str, cls: type, data: Any) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix}: must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]}: unknown key (known: {', '.join(sorted(fields))})"
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}"
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(key, tp, value)
        else:
            kwargs[name] = _check_value(key, tp, value, fields[name].metadata)
    return cls(**kwargs)


def from_dict(data: Mapping[str, Any] | None) -> Config:
    """Build and validate a `Config` from nested plain data (e.g. parsed YAML)."""
    data = dict(data or {})
    hints = typing.get_type_hints(Config)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown section (known: {', '.join(sorted(hints))})")
    cfg = Config(**{name: _build(name, hints[name], value) for name, value in data.items()})
    _check_consistency(cfg)
    return cfg


def _check_consistency(cfg: Config) -> None:
    k = cfg.kafka
    if k.security_protocol.startswith("SASL_"):
        for key in ("sasl_username", "sasl_password_file"):
            if not getattr(k, key):
                raise ConfigError(f"kafka.{key}: required when kafka.security_protocol is "
                                  f"{k.security_protocol}")
    a = cfg.alerts
    if a.peak_demand_kwh < a.high_consumption_kwh:
        raise ConfigError("alerts.peak_demand_kwh: must be >= alerts.high_consumption_kwh")
    for bid in a.buildings:
        high, peak = a.thresholds(bid)
        if peak < high:
            raise ConfigError(
                f"alerts.buildings.{bid}.peak_demand_kwh: must be >= its high_consumption_kwh"
            )
    if a.gap_seconds < cfg.windows.length_seconds:
        raise ConfigError(f"alerts.gap_seconds: {a.gap_seconds} is shorter than a window "
                          f"(windows.length_seconds: {cfg.windows.length_seconds}); a meter "
                          "that reports once a window would be silent between every reading")
    if cfg.notify.retry_max_seconds < cfg.notify.retry_initial_seconds:
        raise ConfigError("notify.retry_max_seconds: must be >= notify.retry_initial_seconds")
    if cfg.notify.link_url:
        try:
            cfg.notify.link_url.format(building="b")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"notify.link_url: only {{building}} may be filled in ({exc})"
                              ) from None
    own = {"alertname", "building", "site", "severity", "category"}
    for name in cfg.notify.labels:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in own:
            raise ConfigError(f"notify.labels.{name}: not a label name wattstream leaves free "
                              f"(a Prometheus label name other than {', '.join(sorted(own))})")
    if cfg.job.restart_max_seconds < cfg.job.restart_initial_seconds:
        raise ConfigError("job.restart_max_seconds: must be >= job.restart_initial_seconds")
    interval_s = cfg.tariff.demand_interval_minutes * 60
    if interval_s % cfg.windows.length_seconds:
        raise ConfigError(f"tariff.demand_interval_minutes: {interval_s} s is not a multiple "
                          f"of windows.length_seconds ({cfg.windows.length_seconds})")
    if cfg.generator.demo_start:
        _check_demo_start(cfg.generator.demo_start)
    if cfg.alerts.quiet_before:
        _check_instant("alerts.quiet_before", cfg.alerts.quiet_before)
    # The small languages of some values: tariff days, hours, overlaps and dates; zones;
    # holiday countries and closure days.
    check_tariff(cfg.tariff)
    check_hours("recommend.night_hours", cfg.recommend.night_hours)
    if cfg.schema.timezone:
        check_zone("schema.timezone", cfg.schema.timezone)
    check_zone("calendar.timezone", cfg.calendar.timezone)
    for name, zone in cfg.calendar.timezones.items():
        check_zone(f"calendar.timezones.{name}", zone)
    check_days_off(cfg.calendar)


def _check_demo_start(text: str) -> None:
    _check_instant("generator.demo_start", text)


def _check_instant(key: str, text: str) -> None:
    try:
        start = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not an ISO 8601 timestamp "
                          f"(e.g. 2026-03-03T10:00:00Z)") from None
    if start.tzinfo is None:
        raise ConfigError(f"{key}: {text!r} has no zone; add one (e.g. 'Z')")


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested data of a config (round-trips through `from_dict`)."""
    return dataclasses.asdict(cfg)


def env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Nested overrides from `WATTSTREAM_<SECTION>__<KEY>` variables."""
    out: dict[str, dict[str, Any]] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"{section}.{key}: cannot parse ${name}: {exc}") from None
        out.setdefault(section, {})[key] = value
    return out


def load_config(path: str | os.PathLike | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Load the YAML file (or `$WATTSTREAM_CONFIG`, or nothing), apply env overrides, validate."""
    env = os.environ if env is None else env
    path = path or env.get(ENV_FILE) or None
    data: dict[str, Any] = {}
    if path:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"config file {p}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {p}: must hold a mapping of sections")
    for section, values in env_overrides(env).items():
        current = data.get(section) or {}
        if not isinstance(current, dict):
            raise ConfigError(f"{section}: must be a mapping")
        data[section] = {**current, **values}
    return from_dict(data)


def resolve_uri(uri: str, base: str | os.PathLike | None = None) -> str:
    """`file://` or `hdfs://` URIs pass through; a bare path becomes an absolute `file://` URI."""
    if "://" in uri:
        return uri
    return Path(base or os.getcwd()).joinpath(uri).resolve().as_uri()


def describe() -> list[tuple[str, str, Any, str]]:
    """(key, type, default, description) for every key: the documented reference of the file."""
    rows = []

    def walk(prefix: str, cls: type) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            key = f"{prefix}.{f.name}" if prefix else f.name
            if dataclasses.is_dataclass(tp):
                walk(key, tp)
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            rows.append((key, getattr(tp, "__name__", str(tp)), default, f.metadata.get("doc", "")))

    walk("", Config)
    return rows


# --- JSON Schema -----------------------------------------------------------------------------

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def sentence(doc: str) -> str:
    """A field's doc as a sentence (the chart's descriptions): capitalised, ending in a stop.
    A doc that starts with a key name (`kafka.enabled`, `job_port`) keeps its case."""
    first = doc.split(" ", 1)[0]
    if doc and not re.search(r"[._`]", first):
        doc = doc[0].upper() + doc[1:]
    return doc if doc.endswith((".", "?", "!", "…")) else doc + "."


def section_doc(cls: type) -> str:
    """The docstring of a config dataclass ('' when it has none of its own)."""
    doc = cls.__dict__.get("__doc__") or ""
    return "" if doc.startswith(cls.__name__ + "(") else " ".join(doc.split())


def _merge(node: dict, extra: Mapping[str, Any]) -> dict:
    for k, v in extra.items():
        node[k] = _merge(dict(node.get(k, {})), v) if isinstance(v, Mapping) else v
    return node


def _value_schema(tp: Any, meta: Mapping[str, Any], omit: frozenset[str], key: str) -> dict:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        node = _value_schema(inner, meta, omit, key)
        node["type"] = [node["type"], "null"]
        return node
    if origin is dict:
        _, vtype = typing.get_args(tp)
        values = (json_schema(vtype, omit=omit, prefix=f"{key}.*")
                  if dataclasses.is_dataclass(vtype)
                  else _value_schema(vtype, {}, omit, f"{key}.*"))
        return {"type": "object", "additionalProperties": values}
    node: dict[str, Any] = {"type": _JSON_TYPES[tp]}
    for ours, theirs in (("min", "minimum"), ("max", "maximum"), ("pattern", "pattern")):
        if meta.get(ours) is not None:
            node[theirs] = meta[ours]
    if meta.get("choices"):
        node["enum"] = list(meta["choices"])
    return node


def json_schema(cls: type = Config, *, omit: Iterable[str] = (), prefix: str = "") -> dict:
    """JSON Schema (draft 7) of a config dataclass from its fields' types, bounds, choices,
    patterns and docs: the chart's values.schema.json `config` part is generated from it.
    `omit` names dotted keys to leave out (those the chart does not expose)."""
    omit = frozenset(omit)
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if key in omit:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            sub = json_schema(tp, omit=omit, prefix=key)
            if sub["properties"]:  # a section whose every key is omitted is left out
                props[f.name] = sub
            continue
        node = {"description": sentence(f.metadata["doc"]),
                **_value_schema(tp, f.metadata, omit, key)}
        props[f.name] = _merge(node, f.metadata.get("schema") or {})
    out: dict[str, Any] = {}
    if doc := section_doc(cls):
        out["description"] = doc
    out.update({"type": "object", "additionalProperties": False, "properties": props})
    return _merge(out, getattr(cls, "JSON_SCHEMA", {}))
