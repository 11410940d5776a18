"""Kafka → job → Parquet/Kafka, checked against independent pandas computations."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from jobkit import CROSSING_PATHS, consume, produce, reading, run_available_now
from truth import crossings, windows

from wattstream import layout

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BUILDINGS = ("b-1", "b-2", "b-3")


def _phase(rng, start: datetime, minutes: int) -> list[dict]:
    out = []
    for b in BUILDINGS:
        for i in range(minutes * 3):
            ts = start + timedelta(seconds=20 * i + rng.randrange(0, 20))
            occ = None if rng.random() < 0.2 else rng.randrange(0, 50)
            hum = None if rng.random() < 0.2 else rng.uniform(20, 80)
            out.append(reading(b, ts, rng.uniform(1, 6), rng.uniform(-5, 30), hum, occ))
    rng.shuffle(out)  # out of order within the stream
    return out


def _read_windows(spark, cfg) -> pd.DataFrame:
    df = spark.read.parquet(layout.data(cfg, "windows")).toPandas()
    return df.sort_values(["building_id", "window_start"]).reset_index(drop=True)


@pytest.mark.parametrize("path", CROSSING_PATHS)
def test_windows_and_alerts_match_pandas_with_out_of_order_and_late_readings(spark, job_cfg,
                                                                            path):
    cfg = job_cfg.replace(alerts={"high_consumption_kwh": 50.0, "peak_demand_kwh": 60.0,
                                  "buildings": {"b-3": {"high_consumption_kwh": 30.0,
                                                        "peak_demand_kwh": 40.0}}},
                          job=CROSSING_PATHS[path])
    rng = random.Random(7)
    phase1 = _phase(rng, T0, 30)
    produce(cfg, phase1)
    metrics = run_available_now(spark, cfg)

    max1 = max(pd.Timestamp(r["timestamp"]) for r in phase1).to_pydatetime()
    inside = [reading(b, max1 - timedelta(seconds=60), 2.5) for b in BUILDINGS]
    too_late = [reading(b, max1 - timedelta(seconds=900), 4.0) for b in BUILDINGS]
    phase2 = _phase(rng, T0 + timedelta(minutes=30), 20)
    produce(cfg, inside + too_late + phase2)
    run_available_now(spark, cfg, metrics)

    kept = phase1 + inside + phase2
    max2 = max(pd.Timestamp(r["timestamp"]) for r in kept)
    watermark = (max2 - pd.Timedelta(seconds=120)).tz_convert(None)
    want = windows(kept, 300)
    want = want[want["window_start"] + pd.Timedelta(seconds=300) <= watermark]
    want = want.reset_index(drop=True)
    got = _read_windows(spark, cfg)

    assert len(want) >= 15
    assert list(got["building_id"]) == list(want["building_id"])
    assert list(got["window_start"]) == list(want["window_start"])
    assert (got["readings"].to_numpy() == want["readings"].to_numpy()).all()
    for col in ("energy_kwh", "avg_kwh", "peak_kwh", "demand_kw", "avg_temperature",
                "avg_humidity", "avg_occupancy"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float),
                                   rtol=1e-9, err_msg=col)
    assert (got["window_end"] - got["window_start"] == pd.Timedelta(seconds=300)).all()

    # The listener counted the too-late readings; every valid reading was counted as taken in.
    from wattstream.waiting import wait_until

    wait_until(lambda: metrics.late._value.get() == len(too_late), 20, "late counter")
    assert metrics.readings._value.get() == len(phase1) + len(inside + too_late + phase2)

    # Alerts: exactly the crossings of pandas' running sums, once each, at the crossing reading.
    truth = crossings([phase1, inside + phase2], 300, cfg.alerts.thresholds)
    truth = truth.sort_values(["building_id", "window_start", "type"]).reset_index(drop=True)
    alerts = (spark.read.parquet(layout.data(cfg, "alerts")).toPandas()
              .sort_values(["building_id", "window_start", "type"]).reset_index(drop=True))
    assert len(truth) >= 10 and set(truth["type"]) == {"HIGH_CONSUMPTION", "PEAK_DEMAND"}
    key = ["building_id", "window_start", "type", "event_time"]
    assert alerts[key].to_dict("records") == truth[key].to_dict("records")
    np.testing.assert_allclose(alerts["value"], truth["value"], rtol=1e-9)
    np.testing.assert_allclose(alerts["threshold"], truth["threshold"])
    assert alerts["alert_id"].is_unique

    records = consume(cfg, cfg.kafka.alerts_topic, expected=len(truth))
    ids = [json.loads(r.value)["alert_id"] for r in records]
    assert sorted(ids) == sorted(alerts["alert_id"])


@pytest.mark.parametrize("path", CROSSING_PATHS)
def test_an_idle_close_record_closes_the_open_windows_in_its_batch(spark, job_cfg, path):
    from kafka import KafkaProducer

    from wattstream.schema import idle_close_record

    cfg = job_cfg.replace(job=CROSSING_PATHS[path])
    rows = _phase(random.Random(3), T0, 12)  # windows 09:00 … 09:10, the last ones open
    produce(cfg, rows)
    metrics = run_available_now(spark, cfg)
    want = windows(rows, 300)
    open_before = len(want) - len(_read_windows(spark, cfg))
    assert open_before >= len(BUILDINGS)

    newest = max(pd.Timestamp(r["timestamp"]) for r in rows)
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers)
    key, value = idle_close_record(int(newest.value // 1000))
    producer.send(cfg.kafka.readings_topic, key=key, value=value).get(30)
    producer.close()
    run_available_now(spark, cfg, metrics)

    got = _read_windows(spark, cfg)
    assert list(zip(got["building_id"], got["window_start"], strict=True)) == list(
        zip(want["building_id"], want["window_start"], strict=True))
    assert (got["readings"].to_numpy() == want["readings"].to_numpy()).all()
    assert metrics.idle_closes._value.get() == 1
    assert sum(s.value for s in metrics.quarantined.collect()[0].samples
               if s.name.endswith("_total")) == 0
    assert consume(cfg, cfg.kafka.dead_letter_topic, timeout=3) == []
