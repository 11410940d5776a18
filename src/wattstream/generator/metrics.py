"""The generator's Prometheus metrics (names fixed by the project's metric contract).

Each generator owns a registry, so several generators in one process (tests, benchmarks) do not
clash; `serve` exposes it on `/metrics` unless the port is 0.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ..errors import WattstreamError

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class GeneratorMetrics:
    def __init__(self, replica: str):
        self.registry = CollectorRegistry()
        labels = ("replica",)
        self.sent = Counter("wattstream_generator_readings_sent_total",
                            "Readings acknowledged by Kafka", labels,
                            registry=self.registry).labels(replica)
        self.errors = Counter("wattstream_generator_send_errors_total",
                              "Readings Kafka did not acknowledge (after retries)", labels,
                              registry=self.registry).labels(replica)
        self.latency = Histogram("wattstream_generator_send_latency_seconds",
                                 "Time from handing a reading to the client to its acknowledgement",
                                 labels, buckets=LATENCY_BUCKETS,
                                 registry=self.registry).labels(replica)
        # Lets a consumer tell when a reading was sent from its event time alone.
        self.event_offset = Gauge("wattstream_generator_event_clock_offset_seconds",
                                  "wall-clock time minus the event time of the readings being "
                                  "sent in realtime mode (0 unless the demo or --start moved "
                                  "event time)", labels, registry=self.registry).labels(replica)
        self.spooled = Gauge("wattstream_generator_spooled_records",
                             "Records (readings and weather) in the on-disk spool, waiting for "
                             "Kafka", labels, registry=self.registry).labels(replica)
        self.spool_bytes = Gauge("wattstream_generator_spool_bytes",
                                 "Size of the spool's files (bounded by "
                                 "generator.spool_max_bytes)", labels,
                                 registry=self.registry).labels(replica)
        self.spool_max_bytes = Gauge("wattstream_generator_spool_max_bytes",
                                     "generator.spool_max_bytes: the generator stops producing "
                                     "when the spool would pass it", labels,
                                     registry=self.registry).labels(replica)
        self._anomalies = Counter("wattstream_generator_anomalies_injected_total",
                                  "Anomalies started, by kind", ("replica", "kind"),
                                  registry=self.registry)
        self.replica = replica

    def watch_spool(self, spool) -> None:
        """The spool gauges read `spool` when scraped."""
        self.spooled.set_function(lambda: spool.records)
        self.spool_bytes.set_function(lambda: spool.bytes)
        self.spool_max_bytes.set(spool.max_bytes)

    def anomalies(self, kind: str, count: int = 1) -> None:
        if count:
            self._anomalies.labels(self.replica, kind).inc(count)

    def serve(self, host: str, port: int) -> None:
        if port == 0:
            return
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise WattstreamError(
                f"cannot serve generator metrics on {host}:{port}: {exc.strerror}; set "
                f"metrics.generator_port (0 disables)") from None
