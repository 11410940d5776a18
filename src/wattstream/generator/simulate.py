"""A fleet stepped through event time: model + anomalies + encoding of the Kafka values.

    sim = Simulator(building_ids, seed=42, replica="r0", kinds=KINDS, anomaly_rate=0.5,
                    calendar=Calendar(cfg))
    batch = sim.step(0, start)   # one reading per building (minus dropped ones)

Values are encoded by `encode`, byte for byte what `Reading.to_json()` gives for the same
record (a test holds it to that), without building a `Reading` and a dict per reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO
from zoneinfo import ZoneInfo

import numpy as np

from ..localtime import UTC, Calendar
from ..schema import format_timestamp
from .anomalies import Injector
from .model import Buildings, Model, _key_int

ENERGY_DECIMALS, TEMP_DECIMALS, HUMIDITY_DECIMALS = 4, 2, 1


@dataclass
class Batch:
    """The readings of one time step."""

    ts: datetime
    index: np.ndarray  # indices of the buildings that report this step
    energy_kwh: np.ndarray
    temperature: np.ndarray
    humidity: np.ndarray
    occupancy: np.ndarray
    site_temperature: float | None = None  # the site's outdoor weather this step
    site_humidity: float | None = None

    def __len__(self) -> int:
        return len(self.index)


class Encoder:
    """Serialises batches to the canonical JSON of `Reading.to_json()`."""

    def __init__(self, building_ids: list[str], with_weather: bool = True,
                 buildings: Buildings | None = None):
        self.heads = [f'","building_id":"{bid}","energy_kwh":' for bid in building_ids]
        self.keys = [bid.encode() for bid in building_ids]
        self.with_weather = with_weather
        self.buildings = buildings  # their zones give each reading's local fields

    def _tails(self, batch: Batch) -> list[str]:
        """Each reading's closing `day_of_week` and `hour`: its building's local ones."""
        ts = batch.ts
        b = self.buildings
        if b is None or b.zone_names == [UTC]:
            return [f',"day_of_week":{ts.weekday()},"hour":{ts.hour}}}'] * len(batch)
        per_zone = [ts.astimezone(ZoneInfo(z)) for z in b.zone_names]
        tails = [f',"day_of_week":{t.weekday()},"hour":{t.hour}}}' for t in per_zone]
        return [tails[z] for z in b.zone[batch.index].tolist()]

    def encode(self, batch: Batch) -> list[bytes]:
        ts = batch.ts
        start = '{"timestamp":"' + format_timestamp(ts)
        tails = self._tails(batch)
        heads = self.heads
        if not self.with_weather:  # a meter's reading: weather comes from the weather topic
            return [
                f'{start}{heads[i]}{e!r},"temperature":null,"humidity":null,"occupancy":{o}'
                f'{tail}'.encode()
                for i, e, o, tail in zip(batch.index.tolist(), batch.energy_kwh.tolist(),
                                         batch.occupancy.tolist(), tails, strict=True)
            ]
        # tolist() turns numpy scalars into Python floats, whose repr is what json.dumps writes.
        return [
            f'{start}{heads[i]}{e!r},"temperature":{t!r},"humidity":{h!r},"occupancy":{o}{tail}'
            .encode()
            for i, e, t, h, o, tail in zip(batch.index.tolist(), batch.energy_kwh.tolist(),
                                           batch.temperature.tolist(), batch.humidity.tolist(),
                                           batch.occupancy.tolist(), tails, strict=True)
        ]


class Simulator:
    def __init__(self, building_ids: list[str], seed: int, replica: str,
                 kinds: tuple[str, ...] = (), anomaly_rate: float = 0.0,
                 labels: IO[str] | None = None,
                 fixed: Mapping[int, tuple[str, float]] | None = None,
                 with_weather: bool = True, calendar: Calendar | None = None):
        self.buildings = Buildings(building_ids, seed, fixed, calendar)
        self.model = Model(self.buildings, seed, replica)
        self.injector = Injector(building_ids, kinds, anomaly_rate, seed, _key_int(replica),
                                 labels)
        self.encoder = Encoder(building_ids, with_weather, self.buildings)
        self.last_end: datetime | None = None

    @property
    def ids(self) -> list[str]:
        return self.buildings.ids

    def step(self, k: int, ts: datetime, dt_s: float) -> Batch:
        v = self.model.step(ts.timestamp(), dt_s)
        present = self.injector.apply(k, ts, dt_s, v)
        self.last_end = ts + timedelta(seconds=dt_s)
        idx = np.flatnonzero(present)
        return Batch(
            ts=ts,
            index=idx,
            energy_kwh=np.round(v.energy_kwh[idx], ENERGY_DECIMALS),
            temperature=np.round(v.temperature[idx], TEMP_DECIMALS),
            humidity=np.round(v.humidity[idx], HUMIDITY_DECIMALS),
            occupancy=v.occupancy[idx],
            site_temperature=round(self.model.site_weather[0], TEMP_DECIMALS),
            site_humidity=round(self.model.site_weather[1], HUMIDITY_DECIMALS),
        )

    def finish(self) -> None:
        if self.last_end is not None:
            self.injector.finish(self.last_end)
