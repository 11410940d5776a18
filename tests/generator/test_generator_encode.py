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
