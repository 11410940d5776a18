"""The realtime demo: large buildings, an event clock at a busy weekday hour and an early labelled
spike make the job's alerts fire within minutes at the default thresholds, which stay as they are.

The realtime loop runs here with a clock that jumps instead of sleeping; window sums are taken as
the job takes them (energy per building summed into [floor(ts / 300) * 300, +300), an alert
raised by the reading whose running sum first passes the threshold)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from wattstream.cli import build_parser
from wattstream.config import Config, ConfigError, from_dict, load_config
from wattstream.errors import WattstreamError
from wattstream.generator import demo
from wattstream.generator.anomalies import EQUIPMENT_SPIKE, KINDS
from wattstream.generator.commands import options
from wattstream.generator.fleet import building_ids
from wattstream.generator.metrics import GeneratorMetrics
from wattstream.generator.run import Options, run
from wattstream.generator.simulate import Simulator
from wattstream.schema import parse_timestamp

START = datetime(2026, 3, 3, 10, tzinfo=UTC)  # a Tuesday
NOW = START + timedelta(hours=3, seconds=1.234)
WINDOW = 300
HIGH, PEAK = Config().alerts.high_consumption_kwh, Config().alerts.peak_demand_kwh
B0, B1 = building_ids("r0", 2)


class JumpClock:
    """The realtime loop's clock without the waiting: a sleep moves time forward at once."""

    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.now += max(0.0, seconds)
        return False


class Collect:
    """Stands in for the Kafka producer: keeps what would be sent and when (clock time);
    `latest` plays the latest reading already in the topic, sent `idle` seconds ago."""

    def __init__(self, clock: JumpClock, latest: datetime | None = None, idle: float = 5.0):
        self.clock, self.sent, self.latest, self.idle = clock, [], latest, idle
        self.acked = self.failed = self.produced = self.spooled = self.drained = 0
        self.spooled_max = self.already_in_kafka = 0
        self.first_error = None

    def latest_reading(self) -> tuple[datetime, float] | None:
        return None if self.latest is None else (self.latest, self.clock.now - self.idle)

    def send_many(self, keys, values) -> None:
        self.sent += [(self.clock.now, k, v) for k, v in zip(keys, values, strict=True)]
        self.acked += len(values)
        self.produced += len(values)

    def close(self) -> None:
        pass


def realtime(tmp_path, minutes: float, *, now: float = NOW.timestamp(),
             latest: datetime | None = None, idle: float = 5.0, **kw):
    """Run realtime mode for `minutes` of event time; (summary, readings, labels, metrics,
    sent) with readings as dicts in the order sent."""
    clock = JumpClock(now)
    producer = Collect(clock, latest, idle)
    metrics = GeneratorMetrics("r0")
    labels = tmp_path / "labels.jsonl"
    base = dict(mode="realtime", replica="r0", buildings=10, seed=42, interval_s=5.0,
                duration_s=minutes * 60, kinds=KINDS, anomaly_rate=0.5, labels=str(labels),
                progress=False, demo=True, demo_start=START)
    cfg = Config().replace(metrics={"generator_port": 0})
    summary = run(cfg, Options(**{**base, **kw}), producer, clock=clock, metrics=metrics)
    readings = [json.loads(v) for _, _, v in producer.sent]
    lines = [json.loads(x) for x in labels.read_text().splitlines()]
    return summary, readings, lines, metrics, producer.sent


def windows(readings) -> dict[tuple[str, int], float]:
    sums: dict[tuple[str, int], float] = defaultdict(float)
    for r in readings:
        t = parse_timestamp(r["timestamp"]).timestamp()
        sums[(r["building_id"], int(t // WINDOW) * WINDOW)] += r["energy_kwh"]
    return dict(sums)


def crossings(readings, threshold: float) -> dict[tuple[str, int], datetime]:
    """Per (building, window): the timestamp of the reading whose running sum passes
    `threshold`, as the job's alert would carry it."""
    running: dict[tuple[str, int], float] = defaultdict(float)
    first: dict[tuple[str, int], datetime] = {}
    for r in readings:
        ts = parse_timestamp(r["timestamp"])
        key = (r["building_id"], int(ts.timestamp() // WINDOW) * WINDOW)
        running[key] += r["energy_kwh"]
        if running[key] > threshold and key not in first:
            first[key] = ts
    return first


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory):
    return realtime(tmp_path_factory.mktemp("demo"), 10)


def test_building_0_passes_peak_demand_and_building_1_high_consumption_at_once(ten_minutes):
    _, readings, _, _, _ = ten_minutes
    sums = windows(readings)
    w0, w1 = int(START.timestamp()), int(START.timestamp()) + WINDOW
    assert sums[(B0, w0)] > PEAK and sums[(B0, w1)] > PEAK
    assert sums[(B1, w0)] > HIGH
    high, peak = crossings(readings, HIGH), crossings(readings, PEAK)
    # within the first ~1.5 minutes of the start: HIGH, then PEAK, for building 0
    assert START + timedelta(seconds=demo.SPIKE_AFTER_S) < high[(B0, w0)] < peak[(B0, w0)] \
        <= START + timedelta(seconds=120)
    assert high[(B1, w0)] < START + timedelta(seconds=WINDOW)


def test_the_spike_is_labelled_counted_and_covers_the_crossings(ten_minutes):
    summary, readings, labels, metrics, _ = ten_minutes
    spikes = [x for x in labels if x["building"] == B0 and x["kind"] == EQUIPMENT_SPIKE]
    assert len(spikes) == 1
    start, end = parse_timestamp(spikes[0]["start"]), parse_timestamp(spikes[0]["end"])
    assert start == START + timedelta(seconds=demo.SPIKE_AFTER_S)
    # still running when the 10-minute run stopped: closed with the run's end
    assert end == START + timedelta(minutes=10)
    w0 = int(START.timestamp())
    for crossing in (crossings(readings, HIGH)[(B0, w0)], crossings(readings, PEAK)[(B0, w0)]):
        assert start <= crossing < end
    assert summary.labels == len(labels) and summary.anomalies[EQUIPMENT_SPIKE] >= 1
    counted = metrics.registry.get_sample_value(
        "wattstream_generator_anomalies_injected_total", {"replica": "r0", "kind": EQUIPMENT_SPIKE})
    assert counted == summary.anomalies[EQUIPMENT_SPIKE]


def test_event_time_starts_at_the_busy_hour_and_follows_the_wall_clock(ten_minutes):
    _, readings, _, _, sent = ten_minutes
    first = readings[0]
    assert parse_timestamp(first["timestamp"]) == START
    assert (first["day_of_week"], first["hour"]) == (1, 10)
    # every reading leaves when the wall clock has moved as far as its event time
    offsets = {round(at - parse_timestamp(json.loads(v)["timestamp"]).timestamp(), 6)
               for at, _, v in sent}
    assert offsets == {round(NOW.timestamp() - START.timestamp(), 6)}
    assert parse_timestamp(readings[-1]["timestamp"]) == START + timedelta(minutes=10, seconds=-5)


def test_the_large_buildings_are_documented_overrides_and_the_rest_is_the_seeded_mix(tmp_path):
    sim = Simulator(building_ids("r0", 10), 42, "r0", fixed=demo.fixed(10))
    plain = Simulator(building_ids("r0", 10), 42, "r0")
    assert sim.buildings.type_names[:2] == ["hospital", "office"]
    assert list(sim.buildings.area[:2]) == [36_000.0, 40_000.0]
    assert sim.buildings.type_names[2:] == plain.buildings.type_names[2:]
    assert list(sim.buildings.area[2:]) == list(plain.buildings.area[2:])
    # same start, demo on and off: every other building reads exactly the same
    _, on, _, _, _ = realtime(tmp_path, 6, start=START)
    _, off, _, _, _ = realtime(tmp_path, 6, start=START, demo=False)
    others = {B0, B1}
    assert [r for r in on if r["building_id"] not in others] == \
        [r for r in off if r["building_id"] not in others]


@pytest.mark.parametrize("start", [
    "2026-01-13T10:00:00Z", "2026-04-14T10:00:00Z", "2026-07-14T10:00:00Z",
    "2026-10-13T10:00:00Z",
])
@pytest.mark.parametrize("seed, interval", [(42, 5.0), (7, 1.0)])
def test_the_demo_alerts_in_every_season_seed_and_interval(tmp_path, start, seed, interval):
    t0 = parse_timestamp(start)
    _, readings, _, _, _ = realtime(tmp_path, 5, now=t0.timestamp() + 86400, seed=seed,
                                    interval_s=interval, demo_start=t0)
    sums = windows(readings)
    w0 = int(t0.timestamp())
    assert sums[(B0, w0)] > PEAK and sums[(B1, w0)] > HIGH
    assert crossings(readings, PEAK)[(B0, w0)] <= t0 + timedelta(seconds=150)


def test_the_default_start_is_the_latest_weekday_busy_hour(tmp_path):
    def at(text):
        return demo.latest_busy_start(parse_timestamp(text).timestamp())

    assert at("2026-03-03T10:00:00Z") == parse_timestamp("2026-03-03T10:00:00Z")  # Tuesday
    assert at("2026-03-03T09:59:59Z") == parse_timestamp("2026-03-02T10:00:00Z")
    assert at("2026-03-03T23:00:00Z") == parse_timestamp("2026-03-03T10:00:00Z")
    assert at("2026-03-08T15:00:00Z") == parse_timestamp("2026-03-06T10:00:00Z")  # Sunday
    assert at("2026-03-09T08:00:00Z") == parse_timestamp("2026-03-06T10:00:00Z")  # Monday
    _, readings, _, _, _ = realtime(tmp_path, 0.5, demo_start=None)
    assert parse_timestamp(readings[0]["timestamp"]) == START


def test_a_demo_joining_a_running_fleet_continues_its_event_time(tmp_path, caplog):
    """A restarted or added replica must not fall behind the job's watermark: it continues
    from the latest reading in the topic when that is later than its own start."""
    running = START + timedelta(minutes=20, seconds=3)
    with caplog.at_level(logging.INFO, logger="wattstream.generator.run"):
        _, readings, labels, _, _ = realtime(tmp_path, 2, latest=running)
    assert parse_timestamp(readings[0]["timestamp"]) == running
    assert [x["start"] for x in labels if x["building"] == B0] == ["2026-03-03T10:20:13.000Z"]
    assert any("the latest reading already in the topic" in r.getMessage()
               for r in caplog.records)
    # older readings (yesterday's run) leave the busy start as it is
    _, readings, _, _, _ = realtime(tmp_path, 1, latest=START - timedelta(days=1))
    assert parse_timestamp(readings[0]["timestamp"]) == START


def test_a_demo_after_an_earlier_run_starts_with_a_whole_window_and_alerts_as_early(tmp_path):
    """Nobody sends on the topic's clock any more (its last reading is minutes old): the clock
    moves on to the next window boundary, and building 0 passes 150 kWh as on a fresh topic."""
    earlier = START + timedelta(minutes=20, seconds=3)
    _, readings, labels, _, _ = realtime(tmp_path, 4, latest=earlier, idle=600)
    first = parse_timestamp(readings[0]["timestamp"])
    assert first == START + timedelta(minutes=25)
    assert [x["start"] for x in labels if x["building"] == B0] == ["2026-03-03T10:25:10.000Z"]
    crossed = crossings(readings, 150.0)[(B0, int(first.timestamp()))]
    assert timedelta(seconds=50) <= crossed - first <= timedelta(seconds=75)
    # a fleet that sent a reading seconds ago keeps its clock exactly
    _, readings, _, _, _ = realtime(tmp_path, 1, latest=earlier, idle=10)
    assert parse_timestamp(readings[0]["timestamp"]) == earlier


def test_the_start_line_says_what_the_demo_does(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="wattstream.generator.run"):
        realtime(tmp_path, 0.5)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("demo:")]
    assert len(lines) == 1
    for part in (f"{B0} a 36,000 m2 hospital", f"{B1} a 40,000 m2 office",
                 "2026-03-03T10:00:00.000Z", EQUIPMENT_SPIKE, "2026-03-03T10:00:10.000Z"):
        assert part in lines[0]


# The readings and labels of this seeded run before the demo existed (sha256 of key, value and
# the labels file): turning the demo off must leave the generator's output exactly as it was.
GOLDEN = "ce7a350515b4593686b19f472dbe9adae521a5dcc4065edebbb48675ba7a1ac0"


def test_demo_off_leaves_the_output_as_it_was(tmp_path):
    ids = building_ids("r0", 20)
    sink = io.StringIO()
    sim = Simulator(ids, 42, "r0", KINDS, 200.0, sink)
    digest = hashlib.sha256()
    t0 = datetime(2026, 3, 3, 17, 30, tzinfo=UTC)
    for k in range(1440):
        batch = sim.step(k, t0 + timedelta(seconds=5 * k), 5.0)
        for i, value in zip(batch.index.tolist(), sim.encoder.encode(batch), strict=True):
            digest.update(sim.encoder.keys[i] + b"\0" + value + b"\n")
    sim.finish()
    digest.update(sink.getvalue().encode())
    assert digest.hexdigest() == GOLDEN
    # ... and the realtime loop sends exactly what that simulator gives from the aligned now
    _, readings, labels, _, sent = realtime(tmp_path, 3, demo=False, anomaly_rate=200.0)
    sink = io.StringIO()
    sim = Simulator(building_ids("r0", 10), 42, "r0", KINDS, 200.0, sink)
    first = datetime.fromtimestamp(-(-NOW.timestamp() // 5) * 5, tz=UTC)
    expected = []
    for k in range(36):
        expected += sim.encoder.encode(sim.step(k, first + timedelta(seconds=5 * k), 5.0))
    sim.finish()
    assert [v for _, _, v in sent] == expected
    assert labels == [json.loads(x) for x in sink.getvalue().splitlines()] != []


def test_demo_applies_to_realtime_only(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="wattstream.generator.run"):
        _, on, _, _, _ = realtime(tmp_path, 3, mode="backfill", start=START)
    _, off, _, _, _ = realtime(tmp_path, 3, mode="backfill", start=START, demo=False)
    assert on == off
    assert any("realtime only" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("generator, message", [
    ({"demo": "yes"}, "generator.demo: must be true or false"),
    ({"demo_start": "tomorrow"}, "generator.demo_start: 'tomorrow' is not an ISO 8601"),
    ({"demo_start": "2026-03-03T10:00:00"}, "generator.demo_start: .* has no zone"),
    ({"demo_start": 3}, "generator.demo_start: must be a string"),
])
def test_bad_demo_settings_name_the_key(generator, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"generator": generator})


def test_a_future_demo_start_is_refused(tmp_path):
    with pytest.raises(WattstreamError,
                       match="generator.demo_start: 2026-03-03T10:00:00.000Z is in the future"):
        realtime(tmp_path, 1, now=START.timestamp() - 1)


def test_the_config_and_its_environment_turn_the_demo_on():
    cfg = load_config(env={"WATTSTREAM_GENERATOR__DEMO": "true",
                           "WATTSTREAM_GENERATOR__DEMO_START": "2026-03-03T11:00:00+01:00"})
    o = options(build_parser().parse_args(["generate"]), cfg)
    assert o.demo is True and o.demo_start == START
    assert options(build_parser().parse_args(["generate"]), Config()).demo is False


def test_an_unquoted_yaml_timestamp_is_a_demo_start(tmp_path):
    path = tmp_path / "wattstream.yaml"
    path.write_text("generator:\n  demo: true\n  demo_start: 2026-03-03T10:00:00Z\n")
    assert load_config(path, env={}).generator.demo_start == "2026-03-03T10:00:00+00:00"
    path.write_text("generator:\n  demo_start: 2026-03-03 10:00:00\n")
    with pytest.raises(ConfigError, match="generator.demo_start: .* has no zone"):
        load_config(path, env={})


@pytest.mark.integration
def test_the_demo_readings_reach_kafka_and_pass_peak_demand(gen_cfg):
    from gen_kafka_util import consume_all

    clock = JumpClock(NOW.timestamp())
    summary = run(gen_cfg, Options(mode="realtime", buildings=4, duration_s=240, kinds=(),
                                   progress=False, demo=True, demo_start=START), clock=clock)
    assert summary.sent == summary.acknowledged == 4 * 48
    readings = sorted((json.loads(r.value) for r in consume_all(gen_cfg)),
                      key=lambda r: r["timestamp"])
    w0 = int(START.timestamp())
    assert crossings(readings, PEAK)[(B0, w0)] <= START + timedelta(seconds=150)
    assert summary.anomalies[EQUIPMENT_SPIKE] == 1  # planned even with random anomalies off
    # a second replica started later reads the topic's tail and joins the same event clock
    clock.now += 600
    run(gen_cfg, Options(mode="realtime", replica="r1", buildings=2, duration_s=10, kinds=(),
                         progress=False, demo=True, demo_start=START), clock=clock)
    joined = [json.loads(r.value) for r in consume_all(gen_cfg)]
    first_r1 = min(r["timestamp"] for r in joined if r["building_id"].startswith("r1-"))
    assert first_r1 == max(r["timestamp"] for r in readings)
