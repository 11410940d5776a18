"""Weather on its own topic joined to meter readings that carry none: as of event time, with
bounded staleness, missing weather counted, malformed observations quarantined."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from jobkit import consume, produce, reading, run_available_now

from wattstream import layout
from wattstream.config import Config
from wattstream.job import saved_state, weather
from wattstream.schema import Weather

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _obs(site: str, minutes: float, temperature: float, humidity: float | None = 60.0):
    return Weather(site, T0 + timedelta(minutes=minutes), temperature, humidity)


def test_the_store_gives_each_observation_until_the_next_or_its_staleness():
    cfg = Config().replace(weather={"default_site": "s", "max_staleness_seconds": 600})
    store = weather.Store(cfg)
    taken, bad = store.add([(o.to_json(), 0, i) for i, o in enumerate(
        [_obs("s", 0, 5.0), _obs("s", 5, 6.0), _obs("s", 30, 7.0), _obs("t", 0, 1.0)])]
        + [(b'{"site": "s", "timestamp": "nope"}', 0, 9), (b"{", 0, 10)])
    assert taken.to_dict() == {"s": 3, "t": 1}
    assert [(b.reason, b.field, b.offset) for b in bad] == [
        ("bad_timestamp", "timestamp", 9), ("malformed_json", None, 10)]
    iv = store.intervals()
    us = int(T0.timestamp() * 1_000_000)
    m = 60_000_000
    s = iv[iv["w_site"] == "s"]
    assert list(zip(s["w_from"] - us, s["w_until"] - us, strict=True)) == [
        (0, 5 * m), (5 * m, 15 * m), (30 * m, 40 * m)]
    store.prune(us + 20 * m)  # only the 9:30 one can still serve an on-time reading
    assert store.obs["ts_us"].tolist() == [us + 30 * m]
    kept = saved_state.empty()
    kept.weather = store.obs
    again = saved_state.decode(saved_state.encode(kept)).weather
    pd.testing.assert_frame_equal(again, store.obs)


@pytest.mark.integration
def test_meter_readings_take_their_site_weather(spark, job_cfg):
    cfg = job_cfg.replace(weather={"sites": {"b-1": "north"}, "max_staleness_seconds": 900})
    assert weather.enabled(cfg)
    obs = [_obs("north", 0, 4.0, 80.0), _obs("north", 10, 6.0, 70.0)]
    produce_weather(cfg, [o.to_json() for o in obs] + [b'{"site": "north"}'])

    def meter(building, minute, kwh=1.0):
        return reading(building, T0 + timedelta(minutes=minute), kwh, temperature=None,
                       humidity=None, occupancy=None)

    # b-1 at 9:00-9:04 takes 4 °C, at 9:10-9:14 6 °C; at 9:40 the 9:10 observation is older
    # than 15 minutes: no weather. b-2 has no site. b-3 reports its own temperature.
    rows = ([meter("b-1", m) for m in range(5)] + [meter("b-1", 10 + m) for m in range(5)]
            + [meter("b-1", 40)] + [meter("b-2", m) for m in range(3)]
            + [reading("b-3", T0 + timedelta(minutes=1), 1.0, temperature=20.0)])
    produce(cfg, rows + [reading("b-closer", T0 + timedelta(hours=2), 0.1)])
    m = run_available_now(spark, cfg)
    w = spark.read.parquet(layout.data(cfg, "windows")).toPandas().set_index(
        ["building_id", "window_start"])
    at = {k: pd.Timestamp(T0 + timedelta(minutes=k)).tz_convert(None) for k in (0, 10, 40)}
    assert w.loc[("b-1", at[0]), "avg_temperature"] == pytest.approx(4.0)
    assert w.loc[("b-1", at[0]), "avg_humidity"] == pytest.approx(80.0)
    assert w.loc[("b-1", at[10]), "avg_temperature"] == pytest.approx(6.0)
    assert pd.isna(w.loc[("b-1", at[40]), "avg_temperature"])
    assert pd.isna(w.loc[("b-2", at[0]), "avg_temperature"])
    assert w.loc[("b-3", at[0]), "avg_temperature"] == pytest.approx(20.0)
    assert m.weather_missing._value.get() == 1  # b-1 at 9:40 (b-2 has no site)
    assert m.weather_observations.labels("north")._value.get() == 2
    assert m.quarantined.labels("missing_field")._value.get() == 1
    dlq = consume(cfg, cfg.kafka.dead_letter_topic, expected=1)
    assert [r.key for r in dlq] == [b"missing_field"]


def produce_weather(cfg, values: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers)
    try:
        for v in values:
            producer.send(cfg.kafka.weather_topic, value=v, key=b"north")
        producer.flush(30)
    finally:
        producer.close()
