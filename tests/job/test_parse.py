"""The Spark validation agrees with `schema.validate_reading` message by message."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from wattstream.generator.fleet import building_ids
from wattstream.generator.simulate import Simulator
from wattstream.job import parse
from wattstream.schema import FIELDS, InvalidReading, Reason, parse_payload

GOOD = {"timestamp": "2026-01-05T09:00:00.000Z", "building_id": "b-0001", "energy_kwh": 12.4,
        "temperature": 21.5, "humidity": 40.0, "occupancy": 120, "day_of_week": 0, "hour": 9}


def j(**changes) -> bytes:
    d = {**GOOD, **changes}
    return json.dumps({k: v for k, v in d.items() if v is not DROP}).encode()


DROP = object()

# (kind, payload): at least one of each Reason plus edge cases of each field kind.
CASES = [
    ("valid", j()),
    ("valid nullable nulls", j(humidity=None, occupancy=None)),
    ("valid nullable absent", j(humidity=DROP, occupancy=DROP)),
    ("valid int as float", j(occupancy=120.0, hour=3.0)),
    ("valid offset", j(timestamp="2026-01-05T10:30:00+01:30")),
    ("valid basic", j(timestamp="20260105T093000Z")),
    ("valid comma fraction", j(timestamp="2026-01-05 09:00:00,1234567+0100")),
    ("valid extra field", j(extra={"x": 1})),
    ("valid duplicate key", b'{"energy_kwh": "x", ' + j()[1:]),
    ("valid bounds", j(energy_kwh=0, temperature=-60, humidity=100, hour=23, day_of_week=6)),
    ("malformed json", b'{"timestamp": '),
    ("empty", b""),
    ("not utf-8", j(building_id="b-\u00e9").replace(b"\\u00e9", b"\xff")),
    ("array", b"[1, 2]"),
    ("string", b'"reading"'),
    ("number", b"12"),
    ("json null", b"null"),
    ("missing building", j(building_id=DROP)),
    ("missing timestamp", j(timestamp=DROP)),
    ("null energy", j(energy_kwh=None)),
    ("energy as string", j(energy_kwh="12.4")),
    ("energy as bool", j(energy_kwh=True)),
    ("energy as object", j(energy_kwh={"v": 1})),
    ("building as number", j(building_id=7)),
    ("blank building", j(building_id="   ")),
    ("long building", j(building_id="b" * 65)),
    ("negative energy", j(energy_kwh=-0.1)),
    ("hot", j(temperature=70.5)),
    ("humidity 101", j(humidity=101)),
    ("hour 24", j(hour=24)),
    ("fractional occupancy", j(occupancy=1.5)),
    ("huge occupancy", j(occupancy=10**30)),
    ("NaN energy", j().replace(b'"energy_kwh": 12.4', b'"energy_kwh": NaN')),
    ("Infinity humidity", j().replace(b'"humidity": 40.0', b'"humidity": -Infinity')),
    ("inf literal", j().replace(b'"energy_kwh": 12.4', b'"energy_kwh": 1e400')),
    ("timestamp number", j(timestamp=1767603600)),
    ("timestamp null", j(timestamp=None)),
    ("bad timestamp", j(timestamp="yesterday")),
    ("bad date", j(timestamp="2026-02-30T09:00:00Z")),
    ("second 60", j(timestamp="2026-01-05T23:59:60Z")),
    ("naive timestamp", j(timestamp="2026-01-05T09:00:00")),
    ("date only", j(timestamp="2026-01-05")),
    ("two errors: first wins", j(building_id=DROP, energy_kwh="x")),
    # Edges of the fast route (plain readings) and of the exact one behind it.
    ("valid negative zero", j(temperature=-0.0, energy_kwh=-0.0)),
    ("valid exponents", j().replace(b'"hour": 9', b'"hour": 9e0').replace(b"12.4", b"1.24E1")),
    ("valid numeric building", j(building_id="0042")),
    ("valid building 'true'", j(building_id="true")),
    ("valid escaped building", j(building_id="b-\u00e9")),
    ("valid byte order mark", b"\xef\xbb\xbf" + j()),
    ("valid NaN in an extra field", j()[:-1] + b', "x": NaN}'),
    ("valid offset past Spark's zones", j(timestamp="2026-01-05T09:00:00+19:00")),
    ("valid offset minute 60", j(timestamp="2026-01-05T09:00:00+01:60")),
    ("offset of a day", j(timestamp="2026-01-05T09:00:00+24:00")),
    ("year 0", j(timestamp="0000-01-05T09:00:00Z")),
    ("before year 1 in UTC", j(timestamp="0001-01-01T00:30:00+01:00")),
    ("after 9999 in UTC", j(timestamp="9999-12-31T23:30:00-01:00")),
    ("text after the object", j() + b" x"),
    ("brace after the object", j() + b"}"),
    ("two objects", j() + j()),
    ("single quotes", j().replace(b'"', b"'")),
    ("not utf-8 in an extra key", j()[:-1] + b', "x\xff": 1}'),
    ("building as huge number", j(building_id=7).replace(b": 7,", b": 1e400,")),
    ("building as true", j(building_id=True)),
    ("building as array", j(building_id=["b-0001"])),
    ("hour 1.5e0", j().replace(b'"hour": 9', b'"hour": 1.5e0')),
]


def python_verdict(payload: bytes, tz=None) -> tuple[str | None, str | None]:
    try:
        parse_payload(payload, tz)
    except InvalidReading as exc:
        return exc.reason, exc.field
    return None, None


def kafka_rows(spark, payloads: list[bytes]):
    return spark.createDataFrame([(p, "t", 0, i) for i, p in enumerate(payloads)],
                                 "value binary, topic string, partition int, offset long")


def spark_verdicts(spark, payloads: list[bytes], default_tz: str = "") -> list[tuple]:
    rows = (parse.decode(kafka_rows(spark, payloads), default_tz).select("offset", "error")
            .orderBy("offset").collect())
    return [(r.error.reason, r.error.field) if r.error else (None, None) for r in rows]


def test_cases_cover_every_reason():
    reasons = {python_verdict(p)[0] for _, p in CASES}
    assert set(Reason.ALL) <= reasons
    assert len({k for k, p in CASES if python_verdict(p)[0]}) >= 10


def test_spark_agrees_with_python_on_every_case(spark):
    got = spark_verdicts(spark, [p for _, p in CASES])
    for (kind, payload), verdict in zip(CASES, got, strict=True):
        assert verdict == python_verdict(payload), kind


def test_default_timezone_accepts_naive_timestamps(spark):
    from zoneinfo import ZoneInfo

    payloads = [j(timestamp="2026-07-05T09:00:00"), j(timestamp="2026-07-05")]
    got = spark_verdicts(spark, payloads, "Europe/Berlin")
    assert got == [python_verdict(p, ZoneInfo("Europe/Berlin")) for p in payloads]
    raw = spark.createDataFrame([(payloads[0], "t", 0, 0)],
                                "value binary, topic string, partition int, offset long")
    ts = parse.decode(raw, "Europe/Berlin").where("error IS NULL").first().timestamp
    expected = parse_payload(payloads[0], ZoneInfo("Europe/Berlin")).timestamp
    assert ts.replace(tzinfo=None) == expected.replace(tzinfo=None)  # session zone is UTC


def test_valid_values_equal_python_values(spark):
    payloads = [p for _, p in CASES if python_verdict(p)[0] is None]
    raw = spark.createDataFrame([(p, "t", 0, i) for i, p in enumerate(payloads)],
                                "value binary, topic string, partition int, offset long")
    rows = parse.decode(raw).where("error IS NULL").collect()
    assert len(rows) == len(payloads)
    for row, p in zip(rows, payloads, strict=True):
        r = parse_payload(p)
        for f in FIELDS:
            want = getattr(r, f.name)
            if f.name == "timestamp":
                want = want.replace(tzinfo=None)
            assert getattr(row, f.name) == want, f.name


def _mutations(rng: random.Random, n: int) -> list[bytes]:
    out = []
    base = [p for _, p in CASES]
    for _ in range(n):
        p = bytearray(rng.choice(base))
        op = rng.randrange(4)
        if op == 0 and p:
            p[rng.randrange(len(p))] = rng.randrange(256)
        elif op == 1 and p:
            del p[rng.randrange(len(p)):]
        elif op == 2:
            p.insert(rng.randrange(len(p) + 1), rng.choice(b'{}[]",:0123456789.eE-+ \\tnul'))
        else:
            p = bytearray(rng.randbytes(rng.randrange(1, 40)))
        out.append(bytes(p))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_spark_agrees_with_python_on_fuzzed_bytes(spark, seed):
    payloads = _mutations(random.Random(seed), 400)
    got = spark_verdicts(spark, payloads)
    mismatches = [(p, g, python_verdict(p)) for p, g in zip(payloads, got, strict=True)
                  if g != python_verdict(p)]
    assert not mismatches, mismatches[:5]


def test_null_value_is_malformed(spark):
    row = parse.decode(kafka_rows(spark, [None])).first()
    assert row.error.reason == Reason.MALFORMED_JSON and row.timestamp is None


def test_dead_letter_keeps_payload_and_reason(spark):
    payload = b'{"timestamp": "\xff'
    raw = spark.createDataFrame([(payload, "t", 3, 7), (j(), "t", 3, 8)],
                                "value binary, topic string, partition int, offset long")
    rows = parse.dead_letter(parse.decode(raw)).collect()
    assert len(rows) == 1  # the valid reading is not a dead letter
    row = rows[0]
    body = json.loads(row.value)
    import base64

    assert base64.b64decode(body["payload_base64"]) == payload
    assert body["reason"] == Reason.MALFORMED_JSON and body["offset"] == 7


# Value spellings for the fields of a plain reading: numbers as Python's json and other
# producers write them, other JSON types, timestamps at the edges of both routes.
TOKENS = [
    "0", "-0", "-0.0", "-0.0e0", "-0.000e3", "0e0", "1e1", "1E+1", "12.5", "-1", "1e400", "-1e400",
    "NaN", "-Infinity", "true", "null", "[]", "[1]", "{}", '{"a": 1}', "100000", "1e5",
    "100000.0000000001", "1.0000000000000001", "23", "24", "6", "7", "1e6", "1000001",
    "12345678901234567890", '"12"', '"b"', '""', '" "', '"\\u0000b"', '"\\u00e9"',
    '"' + "x" * 65 + '"', '"7"', '"-7"', '"1e5"', '"true"', '"[1]"', '"\\"x"', '"b}"', '"b{"',
    '"2026-01-05T09:00:00Z"', '"2026-01-05T09:00:00.1Z"', '"2026-01-05T09:00:00+19:00"',
    '"2026-01-05T09:00:00-18:00"', '"2026-01-05T09:00:00.1234567Z"', '"2026-02-29T00:00:00Z"',
    '"2026-01-05T23:59:60Z"', '"0000-01-01T00:00:00Z"', '"0001-01-01T00:00:00Z"',
    '"9999-12-31T23:59:59.999999Z"', '"2026-01-05 09:00:00Z"', '"2026-01-05T09:00:00"',
    '"2026-01-05T09:00Z"', '"20260105T090000Z"', '" 2026-01-05T09:00:00Z"',
    '"2026-01-05t09:00:00Z"',
]


def plain_readings(n: int) -> list[bytes]:
    """Readings as the generator encodes them (compact) and as json.dumps writes them."""
    sim = Simulator(building_ids("t", 50), seed=3, replica="t")
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    out: list[bytes] = []
    k = 0
    while len(out) < n:
        out += sim.encoder.encode(sim.step(k, t0 + timedelta(minutes=k), 60.0))
        k += 1
    return out[:n // 2] + [json.dumps(json.loads(p)).encode() for p in out[n // 2:n]]


def _reading_mutations(rng: random.Random, base: list[bytes], n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        d = json.loads(rng.choice(base))
        spaced = rng.random() < 0.5
        items = [(k, json.dumps(v)) for k, v in d.items()]
        op = rng.randrange(5)
        i = rng.randrange(len(items))
        if op <= 1:
            items[i] = (items[i][0], rng.choice(TOKENS))
        elif op == 2:  # a duplicate key: Python keeps the last
            items.insert(rng.randrange(len(items) + 1), (items[i][0], rng.choice(TOKENS)))
        elif op == 3:
            items.insert(rng.randrange(len(items) + 1), ("extra", rng.choice(TOKENS)))
        else:
            del items[i]
        sep = ", " if spaced else ","
        text = "{" + sep.join(f'"{k}":{" " if spaced else ""}{v}' for k, v in items) + "}"
        out.append(text.encode())
    return out


def _routed(spark, payloads: list[bytes], default_tz: str, fast_route: bool = True) -> list:
    # Timestamps as microseconds: Python's datetime does not reach all of Spark's range.
    df = parse._routes(kafka_rows(spark, payloads), default_tz, fast_route)
    return df.withColumn("timestamp", F.unix_micros("timestamp")).orderBy("offset").collect()


def _comparable(row) -> tuple:
    """A row's values with doubles bit for bit (-0.0 is not 0.0 here)."""
    return tuple(v.hex() if isinstance(v, float) else v
                 for k, v in row.asDict().items() if k != "_fast")


@pytest.mark.parametrize("default_tz", ["", "Europe/Berlin"])
def test_fast_route_agrees_with_exact_route(spark, default_tz):
    """Every message gets the same columns, error message included, whether or not it may take
    the fast route; the fast route takes only valid messages, and every plain reading."""
    from zoneinfo import ZoneInfo

    rng = random.Random(7)
    plain = plain_readings(200)
    payloads = ([p for _, p in CASES] + _mutations(rng, 300) + plain
                + _reading_mutations(rng, plain, 1500))
    both = _routed(spark, payloads, default_tz)
    exact = _routed(spark, payloads, default_tz, fast_route=False)
    tz = ZoneInfo(default_tz) if default_tz else None
    for p, b, e in zip(payloads, both, exact, strict=True):
        assert _comparable(b) == _comparable(e), p
        assert not b._fast or python_verdict(p, tz) == (None, None), p
        verdict = (b.error.reason, b.error.field) if b.error else (None, None)
        assert verdict == python_verdict(p, tz), p
    assert all(b._fast for b in both[-len(plain) - 1500:-1500])
    assert sum(b._fast for b in both[-1500:]) > 300  # the fast route's edges are exercised


def test_spark_agrees_with_python_on_fuzzed_readings(spark):
    payloads = _reading_mutations(random.Random(5), plain_readings(100), 1500)
    got = spark_verdicts(spark, payloads)
    mismatches = [(p, g, python_verdict(p)) for p, g in zip(payloads, got, strict=True)
                  if g != python_verdict(p)]
    assert not mismatches, mismatches[:5]
