"""The generator against a real broker: exact counts, disjoint replicas, determinism, labels,
SIGTERM without loss, replay of a real dataset, clear failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from gen_kafka_util import consume_all

from wattstream.errors import WattstreamError
from wattstream.generator.anomalies import KINDS
from wattstream.generator.fleet import building_ids
from wattstream.generator.replay import read_rows
from wattstream.generator.run import Options, run
from wattstream.generator.simulate import Simulator
from wattstream.local import kafka
from wattstream.local.procs import free_port
from wattstream.schema import parse_payload, parse_timestamp

pytestmark = pytest.mark.integration

WS = [sys.executable, "-m", "wattstream"]
START = datetime(2026, 7, 3, 18, tzinfo=UTC)


def backfill(cfg, **kw):
    base = dict(mode="backfill", replica="r0", buildings=25, seed=9, interval_s=60.0,
                start=START, kinds=KINDS, anomaly_rate=6.0, progress=False)
    return run(cfg, Options(**{**base, **kw}))


def test_backfill_arrives_exactly_once_valid_keyed_and_as_simulated(gen_cfg, tmp_path):
    labels = tmp_path / "labels.jsonl"
    summary = backfill(gen_cfg, count=4000, labels=str(labels))
    assert summary.sent == summary.acknowledged == 4000 and summary.send_errors == 0
    records = consume_all(gen_cfg)
    assert len(records) == 4000
    per_building = defaultdict(list)
    partitions = defaultdict(set)
    for rec in records:
        reading = parse_payload(rec.value)
        assert rec.key == reading.building_id.encode()
        partitions[reading.building_id].add(rec.partition)
        per_building[reading.building_id].append((rec.offset, reading))
    assert all(len(p) == 1 for p in partitions.values())  # a building stays in one partition
    for rows in per_building.values():
        times = [r.timestamp for _, r in sorted(rows, key=lambda x: x[0])]
        assert times == sorted(times) and len(set(times)) == len(times)

    # the same seed simulated without Kafka gives exactly the consumed values
    ids = building_ids("r0", 25)
    sim = Simulator(ids, 9, "r0", KINDS, 6.0)
    expected = []
    k = 0
    while len(expected) < 4000:
        expected += sim.encoder.encode(sim.step(k, START + timedelta(minutes=k), 60.0))
        k += 1
    assert sorted(rec.value for rec in records) == sorted(expected[:4000])

    # labels line up with what reached Kafka
    lines = [json.loads(x) for x in labels.read_text().splitlines()]
    assert lines and summary.labels == len(lines)
    by_key = {(r.building_id, r.timestamp): r for rows in per_building.values() for _, r in rows}
    last = max(t for _, t in by_key)
    checked = set()
    for lab in lines:
        start, end = parse_timestamp(lab["start"]), parse_timestamp(lab["end"])
        assert start <= last + timedelta(minutes=1)
        inside = [by_key.get((lab["building"], start + timedelta(minutes=i)))
                  for i in range(int((min(end, last) - start) / timedelta(minutes=1)))]
        if lab["kind"] == "sensor_dropout":
            assert all(r is None for r in inside)
        elif lab["kind"] == "stuck_meter" and inside:
            assert len({r.energy_kwh for r in inside}) == 1
        checked.add(lab["kind"])
    assert {"sensor_dropout", "stuck_meter"} <= checked


def test_backfill_is_deterministic_for_a_seed(gen_cfg):
    other = gen_cfg.replace(kafka={"readings_topic": gen_cfg.kafka.readings_topic + ".2"})
    kafka.create_topics(other, other.kafka.bootstrap_servers)
    backfill(gen_cfg, count=1500, seed=4)
    backfill(other, count=1500, seed=4)
    first = [(r.key, r.value) for r in consume_all(gen_cfg)]
    second = [(r.key, r.value) for r in consume_all(other)]
    assert len(first) == 1500 and sorted(first) == sorted(second)
    third = gen_cfg.replace(kafka={"readings_topic": gen_cfg.kafka.readings_topic + ".3"})
    kafka.create_topics(third, third.kafka.bootstrap_servers)
    backfill(third, count=1500, seed=5)
    assert sorted(first) != sorted((r.key, r.value) for r in consume_all(third))


def test_two_replica_processes_own_disjoint_buildings(gen_cfg, config_file):
    cfg_path = config_file(gen_cfg)
    procs = [
        subprocess.Popen(
            [*WS, "--config", str(cfg_path), "generate", "backfill", "--replica-id", rid,
             "--buildings", "12", "--count", "2400", "--interval", "30", "--no-progress",
             "--start", "2026-02-02T00:00:00Z"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rid in ("gen-0", "gen-1")
    ]
    summaries = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    owners = defaultdict(set)
    counts = defaultdict(int)
    for rec in consume_all(gen_cfg):
        bid = parse_payload(rec.value).building_id
        replica = bid.rsplit("-b", 1)[0]
        owners[replica].add(bid)
        counts[replica] += 1
    assert set(owners) == {"gen-0", "gen-1"}
    assert not owners["gen-0"] & owners["gen-1"]
    assert len(owners["gen-0"]) == len(owners["gen-1"]) == 12
    assert [counts["gen-0"], counts["gen-1"]] == [s["acknowledged"] for s in summaries]
    assert all(s["acknowledged"] == 2400 for s in summaries)


def _scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("wattstream_generator_") and " " in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_sigterm_mid_run_loses_no_acknowledged_reading(unique_topics, config_file, tmp_path):
    port = free_port()
    cfg = unique_topics.replace(metrics={"generator_port": port})
    summary_file = tmp_path / "summary.json"
    labels = tmp_path / "labels.jsonl"
    proc = subprocess.Popen(
        [*WS, "--config", str(config_file(cfg)), "generate", "--interval", "0.02",
         "--buildings", "20", "--replica-id", "sig", "--summary", str(summary_file),
         "--anomaly-rate", "20000", "--labels", str(labels)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sent_key = 'wattstream_generator_readings_sent_total{replica="sig"}'
        deadline = time.monotonic() + 60
        seen = {}
        while seen.get(sent_key, 0) < 500:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, f"metrics never reached 500: {seen}"
            try:
                seen = _scrape(port)
            except OSError:
                pass
            time.sleep(0.2)
        assert 'wattstream_generator_send_latency_seconds_count{replica="sig"}' in seen
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads(summary_file.read_text())
    assert json.loads(out.strip().splitlines()[-1]) == summary
    assert summary["stopped_by_signal"] and summary["send_errors"] == 0
    records = consume_all(cfg)
    assert len(records) == summary["acknowledged"] == summary["sent"] >= 500
    assert len({r.value for r in records}) == len(records)  # idempotent: no duplicates
    # events still running at the signal were closed with the run, not lost
    lines = [json.loads(x) for x in labels.read_text().splitlines()]
    assert len(lines) == summary["labels"] == sum(summary["anomalies"].values()) > 0
    last = max(parse_payload(r.value).timestamp for r in records)
    assert all(parse_timestamp(x["end"]) <= last + timedelta(seconds=0.02) for x in lines)


def test_realtime_follows_the_clock_and_stops_after_its_duration(gen_cfg):
    t0 = time.time()
    summary = run(gen_cfg, Options(mode="realtime", buildings=5, interval_s=0.1, duration_s=1.0,
                                   kinds=(), progress=False))
    took = time.time() - t0
    assert summary.sent == summary.acknowledged == 50
    assert 0.8 < took < 10
    records = consume_all(gen_cfg)
    times = sorted({parse_payload(r.value).timestamp for r in records})
    assert len(times) == 10
    assert all(t.microsecond % 100_000 == 0 for t in times)  # on the 0.1 s grid
    # event time is wall time: each reading left when its timestamp came (Kafka CreateTime)
    for rec in records:
        lag = rec.timestamp / 1000 - parse_payload(rec.value).timestamp.timestamp()
        assert -0.05 < lag < 2.0


def test_backfill_rate_caps_readings_per_second(gen_cfg):
    t0 = time.monotonic()
    summary = backfill(gen_cfg, count=1000, rate=2000.0)
    assert summary.acknowledged == 1000
    assert time.monotonic() - t0 >= 0.45


def test_unreachable_broker_fails_fast_with_a_clear_message(gen_cfg):
    cfg = gen_cfg.replace(kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"},
                          generator={"connect_timeout_seconds": 2.0})
    t0 = time.monotonic()
    with pytest.raises(WattstreamError, match="cannot reach Kafka"):
        backfill(cfg, count=10)
    assert time.monotonic() - t0 < 20


def test_missing_topic_is_a_clear_error(gen_cfg):
    cfg = gen_cfg.replace(kafka={"readings_topic": "no-such-topic-here"},
                          generator={"connect_timeout_seconds": 2.0})
    with pytest.raises(WattstreamError, match="topic 'no-such-topic-here' not found"):
        backfill(cfg, count=10)


def test_replay_of_the_cambridge_archive_end_to_end(gen_cfg, tmp_path, config_file):
    canonical = tmp_path / "cambridge.parquet"
    # The default source is the slice shipped in the package, found from any working directory.
    conv = subprocess.run(
        [*WS, "generate", "convert", "--dataset", "cambridge", "--output", str(canonical)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert conv.returncode == 0, conv.stderr
    rows = list(read_rows(canonical))
    res = subprocess.run(
        [*WS, "--config", str(config_file(gen_cfg)), "generate", "replay", "--input",
         str(canonical), "--speedup", "0", "--no-progress"],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    records = consume_all(gen_cfg)
    # 8 buildings x 14 days of hours, less the slice's 27 zero (missing) readings
    assert len(records) == len(rows) == summary["acknowledged"] == 8 * 14 * 24 - 27
    assert sorted(r.value for r in records) == sorted(r.to_json() for r in rows)
    assert summary["first_event"] == "2019-11-11T00:00:00.000Z"
    # event time preserved per building, in order
    last = {}
    for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
        reading = parse_payload(rec.value)
        assert reading.timestamp > last.get(reading.building_id, datetime.min.replace(tzinfo=UTC))
        last[reading.building_id] = reading.timestamp


def test_replay_reports_bad_rows_and_can_reject_them(gen_cfg, tmp_path, config_file, capfd):
    from wattstream.cli import main

    f = tmp_path / "m.csv"
    f.write_text(
        "timestamp,building_id,energy_kwh,temperature,humidity,occupancy,day_of_week,hour\n"
        "2026-01-05T09:00:00Z,b1,12.5,3.0,80,10,0,9\n"
        "2026-01-05T09:00:00Z,b2,1e9,3.0,80,10,0,9\n"
        "2026-01-05T09:00:01Z,b1,12.5,3.0,80,10,0,9\n"
        "2026-01-05T09:00:01Z,,12.5,3.0,80,10,0,9\n"
        "2026-01-05T09:00:02Z,b1,12.5,3.0,80,10,0,9\n")
    cfg_path = str(config_file(gen_cfg))
    assert main(["--config", cfg_path, "generate", "replay", "--input", str(f),
                 "--on-bad-row", "reject"]) == 1
    err = capfd.readouterr().err
    assert "2 row(s) break the schema; nothing was sent" in err
    assert "line 3: energy_kwh=1000000000.0 is outside" in err and "line 5:" in err
    assert main(["--config", cfg_path, "generate", "replay", "--input", str(f),
                 "--speedup", "5"]) == 0
    captured = capfd.readouterr()
    assert "skipped" in captured.err and "line 3" in captured.err and "line 5" in captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["bad_rows"] == 2 and summary["acknowledged"] == 3
    assert summary["seconds"] >= 0.35  # 2 s of event time at speedup 5
    assert len(consume_all(gen_cfg)) == 3


@pytest.mark.parametrize("argv, message", [
    (["--rate", "-5"], "--rate must be > 0"),
    (["--anomalies", "hvac_overnight,gremlins"], "unknown anomaly kind 'gremlins'"),
    (["--duration", "soon"], "--duration 'soon'"),
    (["--buildings", "0"], "--buildings must be >= 1"),
    (["replay"], "replay needs --input"),
    (["replay", "--input", "/nonexistent/meters.csv"], "not found"),
    (["backfill"], "backfill needs --duration or --count"),
    (["--labels", "/proc/forbidden/labels.jsonl", "--count", "1"], "--labels"),
])
def test_bad_options_get_a_clear_message(gen_cfg, config_file, capfd, argv, message):
    from wattstream.cli import main

    code = main(["--config", str(config_file(gen_cfg)), "generate", *argv])
    assert code == 1
    assert message in capfd.readouterr().err


def test_generate_help_works():
    res = subprocess.run([*WS, "generate", "--help"], capture_output=True, text=True,
                         env={**os.environ}, timeout=60)
    assert res.returncode == 0 and "backfill" in res.stdout and "--replica-id" in res.stdout


def test_a_weather_site_sends_meter_readings_and_the_site_weather_apart(gen_cfg):
    from wattstream.schema import parse_weather

    summary = backfill(gen_cfg, duration_s=3600, kinds=(), weather_site="site-9",
                       weather_interval_s=900)
    readings = [parse_payload(r.value) for r in consume_all(gen_cfg)]
    assert len(readings) == summary.sent == 25 * 60
    assert all(r.temperature is None and r.humidity is None for r in readings)
    obs = [parse_weather(r.value) for r in consume_all(gen_cfg,
                                                       topic=gen_cfg.kafka.weather_topic)]
    # 18:00, 18:15, 18:30, 18:45 (the steps run 18:00 to 18:59)
    assert [o.timestamp for o in obs] == [START + timedelta(minutes=15 * i) for i in range(4)]
    assert {o.site for o in obs} == {"site-9"} and summary.weather == 4
    assert all(-60 < o.temperature < 70 and 0 <= o.humidity <= 100 for o in obs)
    # The same seed with weather inside the readings: the site's temperature, give or take
    # each building's sensor offset (within 0.3 °C).
    with_weather = Simulator(building_ids("r0", 25), 9, "r0").step(0, START, 60.0)
    assert abs(with_weather.temperature[0] - obs[0].temperature) <= 0.31


def test_replay_sends_the_weather_file_in_step_with_the_readings(gen_cfg, tmp_path,
                                                                 config_file):
    from wattstream.schema import parse_weather

    canonical, wx = tmp_path / "meters.csv", tmp_path / "weather.csv"
    conv = subprocess.run(
        [*WS, "generate", "convert", "--dataset", "cambridge", "--output", str(canonical),
         "--weather-output", str(wx), "--buildings", "2"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert conv.returncode == 0, conv.stderr
    res = subprocess.run(
        [*WS, "--config", str(config_file(gen_cfg)), "generate", "replay", "--input",
         str(canonical), "--weather-input", str(wx), "--speedup", "0", "--no-progress"],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    obs = [parse_weather(r.value) for r in consume_all(gen_cfg,
                                                       topic=gen_cfg.kafka.weather_topic)]
    assert summary["weather"] == len(obs) == 14 * 24  # every hour of the slice
    assert all(parse_payload(r.value).temperature is None for r in consume_all(gen_cfg))
