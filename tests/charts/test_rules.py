"""The alert rules and dashboard queries: promtool checks and unit-tests them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from .conftest import CHART
from .promql import (
    dashboard_expressions,
    expressions,
    metric_names,
    rule_expressions,
    write_rules_file,
)

HERE = Path(__file__).resolve().parent
RULE_TESTS = HERE / "promtool" / "wattstream_rules_test.yaml"
CONTRACT = {  # metric names every wattstream exporter exposes (the metric-name contract)
    "wattstream_window_energy_kwh", "wattstream_window_avg_kwh", "wattstream_window_peak_kwh",
    "wattstream_window_temperature_celsius", "wattstream_window_humidity_percent",
    "wattstream_window_occupancy", "wattstream_correlation", "wattstream_readings_processed_total",
    "wattstream_alerts_total", "wattstream_quarantined_total",
    "wattstream_late_readings_dropped_total", "wattstream_batch_duration_seconds_bucket",
    "wattstream_input_rows_per_second", "wattstream_processed_rows_per_second",
    "wattstream_kafka_lag_records", "wattstream_last_progress_timestamp_seconds",
    "wattstream_kafka_data_loss_total", "wattstream_baseline_loaded",
    "wattstream_job_state", "wattstream_job_restarts_total",
    "wattstream_job_waiting_since_timestamp_seconds", "wattstream_job_retry_attempt",
    "wattstream_window_expected_kwh", "wattstream_closed_window_energy_kwh",
    "wattstream_closed_window_expected_kwh", "wattstream_closed_window_residual_kwh",
    "wattstream_closed_window_std_residual", "wattstream_baseline_version",
    "wattstream_baseline_model_status", "wattstream_baseline_cv_rmse", "wattstream_baseline_nmbe",
    "wattstream_billing_peak_kw", "wattstream_closed_window_energy_cost",
    "wattstream_closed_window_co2_kg", "wattstream_energy_cost_total", "wattstream_co2_kg_total",
    "wattstream_generator_readings_sent_total", "wattstream_generator_spooled_records",
    "wattstream_generator_spool_bytes", "wattstream_generator_spool_max_bytes",
    "wattstream_generator_send_errors_total", "wattstream_generator_send_latency_seconds_bucket",
    "wattstream_generator_anomalies_injected_total", "up",
}


def _run(cmd, cwd=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def test_promtool_accepts_the_rendered_rules(render, promtool, tmp_path):
    rules = write_rules_file(render("values.yaml"), tmp_path / "rules.yaml")
    out = _run([promtool, "check", "rules", str(rules)])
    assert "SUCCESS: 16 rules found" in out


def test_every_alert_behaves_as_its_promtool_unit_test_says(render, promtool, tmp_path):
    write_rules_file(render("values.yaml"), tmp_path / "rules.yaml")
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    out = _run([promtool, "test", "rules", RULE_TESTS.name], cwd=tmp_path)
    assert "SUCCESS" in out


def test_every_alert_rule_has_a_unit_test(render):
    alerts = {name for name, _ in rule_expressions(render("values.yaml"))}
    tested = {case["alertname"] for t in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for case in t["alert_rule_test"]}
    assert alerts == tested == {
        "WattstreamPeakDemand", "WattstreamHighConsumption", "WattstreamAbnormalUsage",
        "WattstreamStuckMeter", "WattstreamMeterGap", "WattstreamPeakAtRisk",
        "WattstreamJobDown", "WattstreamJobStalled", "WattstreamJobWaiting",
        "WattstreamJobRestarting", "WattstreamJobLagging",
        "WattstreamKafkaDataLoss", "WattstreamGeneratorDown",
        "WattstreamGeneratorStalled", "WattstreamGeneratorSpooling",
        "WattstreamGeneratorSpoolFilling"}


def test_the_outage_rules_take_their_thresholds_from_the_values(render):
    rules = dict(rule_expressions(render(set={"monitoring.rules.waitingSeconds": 120,
                                              "monitoring.rules.restartWindow": "30m"})))
    assert rules["WattstreamJobWaiting"].endswith("> 120")
    assert "wattstream_job_restarts_total[30m]" in rules["WattstreamJobRestarting"]
    # Stalled and Down yield to the waiting alert, never the other way round.
    for name in ("WattstreamJobStalled", "WattstreamJobDown"):
        assert 'unless on() (max(wattstream_job_state{state=~"waiting_.+"}) == 1)' in rules[name]


def test_a_broken_rule_fails_its_unit_test(render, promtool, tmp_path):
    """The unit tests can fail: with the peak threshold inverted the test must not pass."""
    docs = render("values.yaml")
    rules = yaml.safe_load(yaml.safe_dump(docs))
    for d in rules:
        if d["kind"] == "PrometheusRule":
            for r in d["spec"]["groups"][0]["rules"]:
                r["expr"] = r["expr"].replace("> 0", "< 0")
    write_rules_file(rules, tmp_path / "rules.yaml")
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    proc = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0


def test_every_dashboard_query_parses(promtool, tmp_path):
    """Each panel query becomes a recording rule, so promtool's parser checks it."""
    exprs = dashboard_expressions()
    assert len(exprs) >= 14
    group = {"name": "dashboard", "rules": [
        {"record": f"wattstream:dashboard:query{i}", "expr": e} for i, (_, e) in enumerate(exprs)]}
    path = tmp_path / "dashboard.yaml"
    path.write_text(yaml.safe_dump({"groups": [group]}))
    out = _run([promtool, "check", "rules", str(path)])
    assert f"SUCCESS: {len(exprs)} rules found" in out


def test_a_broken_query_is_caught_by_the_parse_check(promtool, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"record": "x:y", "expr": "sum by (building (wattstream_window_energy_kwh)"}]}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0


def test_queries_read_only_metrics_of_the_contract(render):
    used = set()
    for source, name, expr in expressions(render("values.yaml")):
        names = metric_names(expr)
        assert names, f"{source} {name}: reads no metric: {expr}"
        used |= names
    assert used <= CONTRACT, used - CONTRACT
    # the dashboard covers consumption, peaks, alerts, correlation and lag
    assert {"wattstream_window_energy_kwh", "wattstream_window_peak_kwh", "wattstream_alerts_total",
            "wattstream_correlation", "wattstream_kafka_lag_records"} <= used


def test_the_dashboard_shows_the_jobs_state_and_restarts_without_overlapping_panels():
    import json

    for path in (CHART / "files" / "dashboards").glob("*.json"):
        panels = json.loads(path.read_text())["panels"]
        cells = set()
        for p in panels:
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24, p["title"]
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])}
            assert not mine & cells, f"{path.name}: {p['title']} overlaps another panel"
            cells |= mine
        assert len({p["id"] for p in panels}) == len(panels)
    exprs = " ".join(e for _, e in dashboard_expressions())
    assert "wattstream_job_state" in exprs and "wattstream_job_restarts_total" in exprs


def test_the_dashboard_file_is_what_the_chart_ships(render):
    shipped = {p.name for p in (CHART / "files" / "dashboards").glob("*.json")}
    rendered = {k for d in render("values.yaml") if d["kind"] == "ConfigMap"
                for k in d.get("data", {}) if k.endswith(".json")}
    assert rendered == shipped


def test_rules_follow_the_components_that_run(render):
    def alerts(**values):
        return {name for name, _ in rule_expressions(render(set=values))}

    assert not alerts(**{"job.enabled": False}) & {"WattstreamPeakDemand", "WattstreamJobDown"}
    assert "WattstreamGeneratorDown" in alerts(**{"job.enabled": False})
    assert "WattstreamGeneratorDown" not in alerts(**{"generator.enabled": False})
    assert alerts(**{"job.enabled": False, "generator.enabled": False}) == set()


def test_the_energy_rules_step_aside_when_the_job_notifies_alertmanager(render):
    """With notify.alertmanager_urls set the job posts each alert itself; the energy group would
    send it a second time."""
    from wattstream import alert_types

    energy = {t.prometheus_alert for t in alert_types.TABLE}
    default = {name for name, _ in rule_expressions(render("values.yaml"))}
    notifying = {name for name, _ in rule_expressions(render(
        "values.yaml", set={"config.notify.alertmanager_urls": "http://alertmanager:9093"}))}
    assert energy <= default
    assert notifying == default - energy
