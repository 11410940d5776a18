"""The chart's PromQL against a real Prometheus scraping a real local pipeline run.

A generator and the streaming job run as processes on a live broker; the local Prometheus scrapes
both (labelled by `component` as the chart's PodMonitors do) and loads the chart's alert rules.
Then every dashboard query must return data, and every rule must load healthy, evaluate, and find
series for each metric it reads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import modelkit
import pytest
import yaml

from wattstream.generator.fleet import DEFAULT_REPLICA, building_ids
from wattstream.local import prometheus
from wattstream.local.procs import free_ports
from wattstream.waiting import wait_until

from .promql import dashboard_expressions, metric_names, rule_groups, write_rules_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def pipeline(unique_topics, prometheus_service, stack_dir, tmp_path):
    job_port, gen_port = free_ports(2)
    cfg_file = tmp_path / "ws.yaml"
    cfg_file.write_text(yaml.safe_dump({
        "kafka": {"bootstrap_servers": unique_topics.kafka.bootstrap_servers,
                  "readings_topic": unique_topics.kafka.readings_topic,
                  "alerts_topic": unique_topics.kafka.alerts_topic,
                  "dead_letter_topic": unique_topics.kafka.dead_letter_topic},
        "storage": {"uri": str(tmp_path / "warehouse"),
                    "checkpoint_uri": str(tmp_path / "checkpoints")},
        # Low thresholds so that energy alerts fire within the first readings; short windows,
        # gaps and billing intervals so that closed windows are scored and data-quality and
        # peak warnings fire within minutes (the injected anomalies: stuck meters, dropouts).
        "alerts": {"high_consumption_kwh": 0.01, "peak_demand_kwh": 0.02, "gap_seconds": 60,
                   "peak_lead_minutes": 0, "peak_min_history_hours": 0},
        "tariff": {"demand_interval_minutes": 1},
        "windows": {"length_seconds": 20, "watermark_seconds": 2},
        "metrics": {"job_port": job_port, "generator_port": gen_port},
        "generator": {"buildings": 4, "interval_seconds": 0.5, "anomaly_rate_per_day": 1000.0,
                      "anomaly_kinds": "stuck_meter,sensor_dropout"},
        "job": {"trigger_seconds": 1.0},
    }))
    # A baseline model for the generator's buildings, so closed windows are scored.
    modelkit.write(str(tmp_path / "warehouse" / "baseline"), modelkit.flat_table(
        {b: 0.5 for b in building_ids(DEFAULT_REPLICA, 4)}))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    base = [sys.executable, "-m", "wattstream", "--config", str(cfg_file)]
    logs = {name: open(tmp_path / f"{name}.log", "wb") for name in ("job", "generator")}
    procs = {
        "job": subprocess.Popen(base + ["job"], stdout=logs["job"], stderr=subprocess.STDOUT,
                                env=env, start_new_session=True),
        "generator": subprocess.Popen(base + ["generate", "--no-progress"],
                                      stdout=logs["generator"], stderr=subprocess.STDOUT,
                                      env=env, start_new_session=True),
    }
    targets = [
        prometheus.register_target(stack_dir, "wattstream-live", f"127.0.0.1:{job_port}",
                                   {"component": "job"}),
        prometheus.register_target(stack_dir, "wattstream-live", f"127.0.0.1:{gen_port}",
                                   {"component": "generator"}),
    ]
    try:
        yield procs, tmp_path
    finally:
        for t in targets:
            t.unlink(missing_ok=True)
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for f in logs.values():
            f.close()


def _has_data(cfg, expr: str) -> bool:
    return bool(prometheus.query(cfg, expr))


def test_every_chart_expression_returns_data(pipeline, local_cfg, stack_dir, render, tmp_path):
    procs, run = pipeline
    docs = render()
    prometheus.load_rules(local_cfg, stack_dir, [write_rules_file(docs, tmp_path / "rules.yaml")])
    queries = dashboard_expressions()
    empty = [title for title, _ in queries]

    def all_return_data() -> bool:
        empty[:] = [title for title, expr in queries if not _has_data(local_cfg, expr)]
        return not empty

    try:
        wait_until(all_return_data, 300, "dashboard queries returning data", interval=2,
                   alive=lambda: all(p.poll() is None for p in procs.values()))
    except Exception as exc:  # noqa: BLE001 - report what is still empty, with the logs
        logs = "\n".join(f"--- {n}\n" + (run / f"{n}.log").read_text(errors="replace")[-3000:]
                         for n in procs)
        raise AssertionError(f"{exc}; still empty: {sorted(set(empty))}\n{logs}") from None

    loaded = {r["name"]: r for g in prometheus.rules(local_cfg) for r in g["rules"]}
    for group in rule_groups(docs):
        for rule in group["rules"]:
            name = rule["alert"]
            assert loaded[name]["health"] == "ok", (name, loaded[name].get("lastError"))
            prometheus.query(local_cfg, rule["expr"])  # evaluates without error
            for metric in metric_names(rule["expr"]):
                selector = 'up{component="generator"}' if metric == "up" else metric
                assert _has_data(local_cfg, selector), f"{name}: no series for {selector}"
    # With thresholds near zero the energy alerts must have fired through the real pipeline.
    fired = prometheus.query(local_cfg, "sum by (type) (wattstream_alerts_total)")
    assert {r["metric"]["type"] for r in fired} >= {"HIGH_CONSUMPTION", "PEAK_DEMAND"}
