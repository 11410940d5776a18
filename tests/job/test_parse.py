"""The Spark validation agrees with `schema.validate_reading` message by message."""

from __future__ import annotations

import json
import random

import pytest

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
]


def python_verdict(payload: bytes, tz=None) -> tuple[str | None, str | None]:
    try:
        parse_payload(payload, tz)
    except InvalidReading as exc:
        return exc.reason, exc.field
    return None, None


def spark_verdicts(spark, payloads: list[bytes], default_tz: str = "") -> list[tuple]:
    raw = spark.createDataFrame([(p, "t", 0, i) for i, p in enumerate(payloads)],
                                "value binary, topic string, partition int, offset long")
    rows = parse.decode(raw, default_tz).orderBy("offset").collect()
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
    ts = parse.valid(parse.decode(raw, "Europe/Berlin")).first().timestamp
    expected = parse_payload(payloads[0], ZoneInfo("Europe/Berlin")).timestamp
    assert ts.replace(tzinfo=None) == expected.replace(tzinfo=None)  # session zone is UTC


def test_valid_values_equal_python_values(spark):
    payloads = [p for _, p in CASES if python_verdict(p)[0] is None]
    raw = spark.createDataFrame([(p, "t", 0, i) for i, p in enumerate(payloads)],
                                "value binary, topic string, partition int, offset long")
    rows = parse.valid(parse.decode(raw)).collect()
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


def test_dead_letter_keeps_payload_and_reason(spark):
    payload = b'{"timestamp": "\xff'
    raw = spark.createDataFrame([(payload, "t", 3, 7)],
                                "value binary, topic string, partition int, offset long")
    row = parse.dead_letter(parse.quarantined(parse.decode(raw))).first()
    body = json.loads(row.value)
    import base64

    assert base64.b64decode(body["payload_base64"]) == payload
    assert body["reason"] == Reason.MALFORMED_JSON and body["offset"] == 7
