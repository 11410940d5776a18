"""What one refresh of the live view shows, as plain immutable data."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Building:
    """A building's running window, from the job's per-building gauges."""
    id: str
    energy_kwh: float
    threshold_kwh: float  # its HIGH_CONSUMPTION threshold
    peak_kwh: float | None = None  # the window's largest reading
    temperature: float | None = None
    occupancy: float | None = None
    expected_kwh: float | None = None  # baseline mean of a whole window at this hour of week


@dataclass(frozen=True)
class Alert:
    """One episode (`wattstream.episodes`): a building's alerts of one type in back-to-back
    windows, shown as one row."""
    type: str
    building: str
    value: float  # the worst of its windows
    threshold: float
    event_time: str  # of the first crossing reading (ISO, as in the alert)
    # Kafka timestamp of the first alert minus the time its crossing reading was sent; None
    # when the generator's event clock is unknown.
    delay_s: float | None = None
    windows: int = 1  # windows in the episode so far
    arrived: float = 0.0  # unix time the first alert reached Kafka
    notified_at: float | None = None  # unix time Alertmanager's notification was received
    receiver: str = ""  # the Alertmanager receiver that got it


@dataclass(frozen=True)
class JobStatus:
    """What the job's supervisor says it does (the `wattstream_job_*` series of its /metrics):
    it rides out outages of Kafka, HDFS and the storage path in-process, and says so."""
    state: str  # starting, running, waiting_kafka, waiting_hdfs, waiting_storage, restarting
    at: float  # wall-clock time (unix) of the scrape: "next in" counts from it
    since: float | None = None  # unix time the current outage was first seen
    attempt: int = 0  # restart attempt of the current outage (0: none)
    next_retry: float | None = None  # unix time the next restart attempt is due
    reason: str | None = None  # the dependency of the current outage: kafka, hdfs, storage
    restarts: tuple[tuple[str, int], ...] = ()  # in-process restarts by reason, since it started
    last_batch: float | None = None  # unix time the last micro-batch completed

    @property
    def waiting(self) -> bool:
        return self.state.startswith("waiting_")


@dataclass(frozen=True)
class Snapshot:
    elapsed_s: float = 0.0
    services: tuple[tuple[str, bool | None], ...] = ()  # (name, up; None while starting)
    readings_in_per_s: float | None = None  # sent by the generators
    processed_per_s: float | None = None  # taken in by the job
    readings_sent: int | None = None
    readings_processed: int | None = None
    kafka_lag: float | None = None  # records behind, alerts query
    quarantined: int = 0
    late: int = 0
    batch_s: float | None = None  # recent mean micro-batch duration, alerts query
    buildings: tuple[Building, ...] = ()  # every building with a running window
    window_start: float | None = None  # event time (unix) of the newest running window
    window_s: int = 300
    alerts: tuple[Alert, ...] = ()  # newest first
    alert_counts: dict[str, int] = field(default_factory=dict)  # by type, as received
    episodes: int = 0  # episodes the alerts make
    notifications: dict[str, int] | None = None  # by receiver; None: no Alertmanager watched
    baseline: bool | None = None  # an ABNORMAL_USAGE baseline is loaded
    job: JobStatus | None = None  # None: the job's /metrics did not answer (or has no state)
    demo: str = ""  # what the demo does, when it runs
    notices: tuple[str, ...] = ()  # recent warnings of the services
    links: tuple[tuple[str, str], ...] = ()  # (what, where) to open next
