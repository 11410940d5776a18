"""Malformed input through Kafka: quarantined with the right reason, counted, the job alive;
the job's /metrics is promtool-clean and scraped by a real Prometheus."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from jobkit import consume, produce, reading, run_available_now
from test_parse import CASES, _mutations, python_verdict

from wattstream.job.metrics import JobMetrics
from wattstream.local import prometheus
from wattstream.local.procs import free_port
from wattstream.schema import Reason
from wattstream.waiting import wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _scrape(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def test_malformed_input_is_quarantined_counted_and_metrics_are_sane(
        spark, job_cfg, prometheus_service, local_cfg, stack_dir):
    # The hand-written cases are readings weeks apart: their silences are not under test.
    cfg = job_cfg.replace(metrics={"job_port": free_port(), "max_buildings": 3},
                          alerts={"gap_seconds": 7 * 86_400})
    rng = random.Random(11)
    good = [reading(f"b-{i % 4}", T0 + timedelta(seconds=10 * i), rng.uniform(1, 4),
                    rng.uniform(0, 30), rng.uniform(20, 90), rng.randrange(100))
            for i in range(200)]
    bad = [p for _, p in CASES] + _mutations(rng, 300)
    messages = good + bad
    rng.shuffle(messages)
    produce(cfg, messages)
    want = Counter(python_verdict(m if isinstance(m, bytes) else json.dumps(m).encode())[0]
                   for m in messages)
    n_bad = sum(n for r, n in want.items() if r is not None)
    assert n_bad >= 200 and len([r for r in want if r]) == len(Reason.ALL)

    metrics = JobMetrics(cfg)
    metrics.serve()
    run_available_now(spark, cfg, metrics)  # raises if any query failed

    # valid + quarantined == consumed, by reason
    assert metrics.readings._value.get() == want[None]
    for reason in Reason.ALL:
        assert metrics.quarantined.labels(reason)._value.get() == want[reason], reason
    dlq = consume(cfg, cfg.kafka.dead_letter_topic, expected=n_bad)
    assert len(dlq) == n_bad
    assert Counter(json.loads(r.value)["reason"] for r in dlq) == +Counter(
        {r: n for r, n in want.items() if r})

    # Exposition: promtool-clean, expected series present with sane values.
    text = _scrape(cfg.metrics.job_port)
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    check = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                           capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    names = {name for name, _ in samples}
    for name in ("wattstream_window_energy_kwh", "wattstream_window_avg_kwh",
                 "wattstream_window_peak_kwh", "wattstream_window_temperature_celsius",
                 "wattstream_window_humidity_percent", "wattstream_window_occupancy",
                 "wattstream_correlation", "wattstream_readings_processed_total",
                 "wattstream_quarantined_total", "wattstream_batch_duration_seconds_count",
                 "wattstream_input_rows_per_second", "wattstream_processed_rows_per_second",
                 "wattstream_kafka_lag_records", "wattstream_last_progress_timestamp_seconds",
                 "wattstream_baseline_loaded", "wattstream_late_readings_dropped_total"):
        assert name in names, name
    buildings = {dict(k)["building"] for n, k in samples if n == "wattstream_window_energy_kwh"}
    assert len(buildings) == 3  # capped by metrics.max_buildings
    assert samples[("wattstream_baseline_loaded", ())] == 0
    assert samples[("wattstream_kafka_lag_records", (("query", "engine"),))] == 0
    for b in buildings:
        def g(name, b=b):
            return samples[(name, (("building", b),))]
        assert 0 <= g("wattstream_window_avg_kwh") <= g("wattstream_window_peak_kwh") <= g(
            "wattstream_window_energy_kwh"), b
    rs = [v for (n, _), v in samples.items() if n == "wattstream_correlation" and v == v]
    assert rs and all(-1 <= v <= 1 for v in rs)

    # A real Prometheus scrapes the job.
    prometheus.register_target(stack_dir, "wattstream-job-test",
                               f"127.0.0.1:{cfg.metrics.job_port}")

    def scraped() -> bool:
        res = prometheus.query(local_cfg, 'wattstream_readings_processed_total'
                                          '{job="wattstream-job-test"}')
        return bool(res) and float(res[0]["value"][1]) == want[None]

    wait_until(scraped, 30, "prometheus scrape of the job")
