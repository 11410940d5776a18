"""The fast encoder writes exactly what `Reading.to_json()` writes."""

from datetime import UTC, datetime, timedelta

import numpy as np

from wattstream.generator.simulate import Batch, Encoder
from wattstream.schema import Reading, parse_payload


def test_encoder_matches_reading_to_json():
    rng = np.random.default_rng(0)
    ids = ["r0-b00000", "gen-1-b00042", "x"]
    enc = Encoder(ids)
    for k in range(300):
        ts = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=k * 3607.125)
        n = 3
        batch = Batch(
            ts=ts,
            index=np.arange(n),
            energy_kwh=np.round(rng.lognormal(1, 3, n), 4),
            temperature=np.round(rng.uniform(-60, 70, n), 2),
            humidity=np.round(rng.uniform(0, 100, n), 1),
            occupancy=rng.integers(0, 100_000, n),
        )
        for i, payload in enumerate(enc.encode(batch)):
            expected = Reading(ts, ids[i], float(batch.energy_kwh[i]),
                               float(batch.temperature[i]), float(batch.humidity[i]),
                               int(batch.occupancy[i]), ts.weekday(), ts.hour).to_json()
            assert payload == expected
            assert parse_payload(payload).building_id == ids[i]


def test_each_reading_carries_its_building_s_local_fields():
    """Two buildings in zones either side of UTC, across New York's autumn DST change."""
    import json

    from wattstream.config import Config
    from wattstream.generator.simulate import Simulator
    from wattstream.localtime import Calendar

    ids = ["ny", "tokyo", "utc"]
    cal = Calendar(Config().replace(calendar={"timezones": {"ny": "America/New_York",
                                                            "tokyo": "Asia/Tokyo"}}))
    sim = Simulator(ids, 7, "r0", calendar=cal)
    for ts, want in (
        # 2026-11-01 05:30Z: 01:30 EDT (Sunday) would be 00:30 EST an hour later.
        (datetime(2026, 11, 1, 5, 30, tzinfo=UTC), [(6, 1), (6, 14), (6, 5)]),
        (datetime(2026, 11, 1, 6, 30, tzinfo=UTC), [(6, 1), (6, 15), (6, 6)]),
        (datetime(2026, 11, 2, 4, 30, tzinfo=UTC), [(6, 23), (0, 13), (0, 4)]),
    ):
        got = [json.loads(p) for p in sim.encoder.encode(sim.step(0, ts, 300))]
        assert [(r["day_of_week"], r["hour"]) for r in got] == want, ts
        for r in got:
            parse_payload(json.dumps(r).encode())  # still a valid reading


def test_a_building_keeps_its_schedule_on_its_own_wall_clock():
    """An office in New York is occupied at 10:00 local whatever the UTC offset, and empty at
    10:00 UTC (05:00 or 06:00 local)."""
    from wattstream.config import Config
    from wattstream.generator.model import Buildings
    from wattstream.localtime import Calendar

    cal = Calendar(Config().replace(calendar={"timezone": "America/New_York",
                                              "holidays": {"o": "US"}}))
    b = Buildings(["o"], 1, fixed={0: ("office", 5000.0)}, calendar=cal)
    for local_ten_utc in ("2026-01-05T15:00:00+00:00", "2026-07-06T14:00:00+00:00"):
        s = datetime.fromisoformat(local_ten_utc).timestamp()
        hour, dow = b.local_time(s)
        assert (round(float(hour[0]), 3), int(dow[0])) == (10.0, 0)
        assert b.occupancy_fraction(hour, dow)[0] == 1.0
        early = b.local_time(s - 5 * 3600)  # 05:00 local
        assert b.occupancy_fraction(*early)[0] < 0.1
    # Thanksgiving, 10:00 local: a day off, closed as on a Sunday.
    s = datetime.fromisoformat("2026-11-26T15:00:00+00:00").timestamp()
    assert b.day_off(s).tolist() == [True] and not b.day_off(s - 86400)[0]
