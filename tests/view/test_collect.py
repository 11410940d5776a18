"""The view's snapshots from what a pipeline exposes: the job's and the generator's /metrics
(served by their real metric classes) and the alerts topic (a real broker)."""

import json
import time
from datetime import UTC, datetime

import pandas as pd
import pytest
from prometheus_client import start_http_server

from wattstream.generator.metrics import GeneratorMetrics
from wattstream.job.metrics import JobMetrics
from wattstream.local.procs import free_ports
from wattstream.view import scrape
from wattstream.view.collect import Collector


def test_the_text_format_is_parsed_into_samples_and_summed_by_label():
    samples = scrape.parse(
        '# TYPE wattstream_alerts counter\n'
        'wattstream_alerts_total{building="a",type="PEAK_DEMAND"} 2.0\n'
        'wattstream_alerts_total{building="b",type="PEAK_DEMAND"} 1.0\n'
        'wattstream_alerts_total{building="b",type="HIGH_CONSUMPTION"} 4.0\n')
    assert scrape.total(samples, "wattstream_alerts_total") == 7
    assert scrape.total(samples, "wattstream_alerts_total", building="b") == 5
    assert scrape.total(samples, "missing") is None
    assert scrape.by_label(samples, "wattstream_alerts_total", "type") == {
        "PEAK_DEMAND": 3.0, "HIGH_CONSUMPTION": 4.0}


def test_rates_come_from_the_recent_history_and_survive_a_restart():
    r = scrape.Rate(horizon=10)
    assert r.per_second() is None
    for t, v in [(0, 0), (5, 50), (10, 100), (15, 150)]:
        r.add(v, now=t)
    assert r.per_second() == pytest.approx(10.0)
    assert r.points[0][0] >= 5  # older points dropped
    r.add(3, now=16)  # the process restarted: its counter began again
    r.add(13, now=17)
    assert r.per_second() == pytest.approx(10.0)


@pytest.mark.integration
def test_a_snapshot_holds_the_fleet_rates_and_each_alert_once_with_its_delay(unique_topics):
    from kafka import KafkaProducer

    job_port, gen_port = free_ports(2)
    cfg = unique_topics.replace(metrics={"job_port": job_port, "generator_port": gen_port})
    job, gen = JobMetrics(cfg), GeneratorMetrics("r0")
    servers = [start_http_server(job_port, addr="127.0.0.1", registry=job.registry),
               start_http_server(gen_port, addr="127.0.0.1", registry=gen.registry)]
    ws = pd.Timestamp("2026-03-03 10:00:00")
    for b, e in [("small", 12.0), ("big", 160.0), ("mid", 90.0)]:
        job.set_window({"building_id": b, "window_start": ws, "energy_kwh": e, "avg_kwh": 1.0,
                        "peak_kwh": e / 10, "avg_temperature": 5.5, "avg_humidity": 80.0,
                        "avg_occupancy": 100.0})
    job.quarantined.labels("bad_json").inc(2)
    gen.event_offset.set(3600.0)  # the demo's event clock runs an hour behind the wall clock
    collector = Collector(cfg, since=time.time() - 60, services=lambda: [("kafka", True)])
    try:
        first = collector.snapshot()
        gen.sent.inc(500)
        job.readings.inc(400)
        # The crossing reading was sent (event time + offset) 2 s before its alert is produced.
        event = datetime.fromtimestamp(time.time() - 3600 - 2, tz=UTC)
        alert = {"alert_id": "a1", "building_id": "big", "type": "HIGH_CONSUMPTION",
                 "value": 160.0, "threshold": 150.0,
                 "event_time": event.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers)
        for _ in range(2):  # a replayed batch sends the same alert again
            producer.send(cfg.kafka.alerts_topic, json.dumps(alert).encode(), key=b"big")
        producer.flush()
        producer.close()
        deadline = time.monotonic() + 60
        while not collector.snapshot().alerts:
            assert time.monotonic() < deadline, "the alert never reached the view"
            time.sleep(0.5)
        time.sleep(1.5)
        s = collector.snapshot()
    finally:
        collector.close()
        for server, _ in servers:
            server.shutdown()
    assert first.services == (("kafka", True), ("generator", True), ("job", True))
    assert [b.id for b in s.buildings] == ["big", "mid", "small"]
    big = s.buildings[0]
    assert (big.energy_kwh, big.threshold_kwh, big.peak_kwh, big.temperature, big.occupancy) == (
        160.0, 150.0, 16.0, 5.5, 100.0)
    assert s.window_start == datetime(2026, 3, 3, 10, tzinfo=UTC).timestamp()
    assert s.quarantined == 2 and s.readings_sent == 500 and s.readings_processed == 400
    assert s.readings_in_per_s and s.readings_in_per_s > 0
    assert len(s.alerts) == 1 and s.alert_counts == {"HIGH_CONSUMPTION": 1}
    a = s.alerts[0]
    assert (a.type, a.building, a.value, a.threshold) == ("HIGH_CONSUMPTION", "big", 160.0, 150.0)
    assert 1.0 < a.delay_s < 6.0, a.delay_s
