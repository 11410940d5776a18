"""The recommendation rules on a fleet backfilled through the real pipeline: the generator's
injected faults go through Kafka and the job into the stored windows and alerts, and the rules
point at them (HVAC left on overnight → after hours, stuck meters and dropouts → data quality,
spikes that set a month's peak → peak shaving)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml
from jobkit import run_available_now

from wattstream.analytics import rules, score, usage
from wattstream.analytics.commands import stored_alerts
from wattstream.analytics.report import read_metadata
from wattstream.config import to_dict
from wattstream.tariff import Tariff

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUILDINGS, DAYS = 24, 21


def test_the_rules_point_at_the_faults_injected_upstream(spark, unique_topics, tmp_path):
    cfg = unique_topics.replace(
        storage={"uri": (tmp_path / "warehouse").as_uri(),
                 "checkpoint_uri": (tmp_path / "checkpoints").as_uri()},
        # A backfill's partitions drift apart within a batch: a watermark that covers it.
        windows={"length_seconds": 300, "watermark_seconds": 3600},
        kafka={"partitions": 2})
    config_file = tmp_path / "wattstream.yaml"
    config_file.write_text(yaml.safe_dump(to_dict(cfg)))
    labels = tmp_path / "labels.jsonl"
    base = [sys.executable, "-m", "wattstream", "--config", str(config_file), "generate"]
    fleet = ["--buildings", str(BUILDINGS), "--replica-id", "f", "--seed", "11"]
    subprocess.run([*base, "backfill", *fleet, "--duration", f"{DAYS}d", "--interval", "300",
                    "--start", "2026-06-01T00:00:00Z", "--anomalies", "all",
                    "--anomaly-rate", "0.3", "--labels", str(labels), "--no-progress"],
                   check=True, capture_output=True, timeout=300)
    subprocess.run([*base, "buildings", *fleet, "--output", str(tmp_path / "b.csv")],
                   check=True, capture_output=True, timeout=60)
    run_available_now(spark, cfg, timeout=600)

    since, until = pd.Timestamp("2026-06-01"), pd.Timestamp("2026-06-22")
    data = usage.read_usage(spark, cfg, since, until)
    assert len(data.buildings) == BUILDINGS
    found = rules.recommend(data, Tariff(cfg.tariff), cfg.recommend,
                            read_metadata(str(tmp_path / "b.csv")), stored_alerts(spark, cfg))
    got = score.rules_against_labels(found.table, score.read_labels(labels))
    print(pd.DataFrame(got).T.to_string())
    hvac, stuck, dropout = (got[k] for k in ("hvac_overnight", "stuck_meter",
                                             "sensor_dropout"))
    assert hvac["labels"] >= 10 and hvac["recall"] >= 0.6, hvac
    assert hvac["precision"] >= 0.7, hvac
    assert stuck["labels"] and stuck["recall"] == 1.0, stuck
    assert dropout["labels"] and dropout["recall"] >= 0.9, dropout
    assert got["equipment_spike"]["found"] >= 1, got["equipment_spike"]
