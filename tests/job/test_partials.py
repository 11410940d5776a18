"""A small batch summed on the driver (`_Partials.collect`) equals the same batch aggregated in
the JVM (`_Partials.run`): every group, partial and correlation sum, and the on-time readings."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from wattstream.job import parse
from wattstream.job.stream import _GROUP, _Partials, prepare

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LENGTH_S = 300


def payloads(seed: int, n: int = 400) -> list[bytes]:
    """Readings of 7 buildings over an hour, out of order, with absent humidity and
    occupancy, some malformed."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        t = T0 + timedelta(seconds=rng.randrange(3600))
        d = {"timestamp": t.isoformat().replace("+00:00", "Z"),
             "building_id": f"b-{rng.randrange(7):04d}",
             "energy_kwh": round(rng.uniform(0, 40), 3),
             "temperature": round(rng.uniform(-5, 30), 2),
             "humidity": None if rng.random() < 0.2 else round(rng.uniform(10, 90), 1),
             "occupancy": None if rng.random() < 0.2 else rng.randrange(500),
             "day_of_week": t.weekday(), "hour": t.hour}
        if rng.random() < 0.05:
            d["energy_kwh"] = -1  # out of range
        if rng.random() < 0.03:
            out.append(b'{"timestamp": ')  # not JSON
            continue
        out.append(json.dumps(d).encode())
    return out


def batch(spark, seed: int):
    raw = spark.createDataFrame(
        [(p, "t", i % 3, i) for i, p in enumerate(payloads(seed))],
        "value binary, topic string, partition int, offset long")
    return prepare(parse.decode(raw), LENGTH_S)


def by_group(parts) -> dict:
    def key(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    return {tuple(key(r[c]) for c in _GROUP): r for r in parts.to_dict("records")}


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("wm", [None, T0 + timedelta(minutes=25)])
def test_driver_sums_equal_the_jvm_aggregate(spark, seed, wm):
    df = batch(spark, seed)
    wm_us = None if wm is None else int(wm.timestamp() * 1_000_000)
    cut = -(2**63) if wm_us is None else wm_us
    jvm = _Partials(False).run(
        df.crossJoin(spark.sql(f"SELECT CAST({cut} AS BIGINT) AS _wm")))
    driver, readings = _Partials(True).collect(df, wm_us)
    want, got = by_group(jvm), by_group(driver)
    assert set(got) == set(want)
    statuses = {k[0] for k in want}
    assert {"ok", "bad"} <= statuses and ("late" in statuses) == (wm is not None)
    columns = [c for c in jvm.columns if c not in _GROUP]
    assert set(columns) <= set(driver.columns)
    for k, w in want.items():
        for c in columns:
            a, b = got[k][c], w[c]
            if b is None or (isinstance(b, float) and math.isnan(b)):
                assert a is None or math.isnan(a), (k, c, a)
            else:
                assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9), (k, c, a, b)
    # The on-time valid readings, each once, with their partition and offset.
    on_time = df.where("error IS NULL" + ("" if wm_us is None else f" AND ts_us >= {wm_us}"))
    expect = sorted((r.building_id, r.ws, r.partition, r.offset, r.energy_kwh)
                    for r in on_time.collect())
    assert sorted(readings[["building_id", "ws", "partition", "offset", "energy_kwh"]]
                  .itertuples(index=False, name=None)) == expect
    assert len(readings) == sum(w["n"] for k, w in want.items() if k[0] == "ok")
