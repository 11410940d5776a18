"""Stored windows of a simulated fleet, written straight into the job's Parquet layout
(`<warehouse>/windows/date=<day>/part-*.parquet`) without Kafka or the job: a month of 10 000
buildings is 86 M windows, far more than a backfill through the pipeline could make here.

The generator's building model and anomaly injector step once per window (one reading of
`--length` seconds is the window's energy); labels are written as the generator writes them.
The pipeline itself is exercised on smaller fleets (bench/detection.py, tests).

    fleet_windows.write(Path("/tmp/w"), "fleet", 1000, start, days=30)   # from bench/report.py
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from wattstream.generator.fleet import building_ids  # noqa: E402
from wattstream.generator.model import Buildings  # noqa: E402
from wattstream.generator.simulate import Simulator  # noqa: E402

_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema([("building_id", pa.string()), ("window_start", _TS), ("window_end", _TS),
                    ("readings", pa.int64()), ("energy_kwh", pa.float64()),
                    ("avg_temperature", pa.float64()), ("avg_humidity", pa.float64()),
                    ("avg_occupancy", pa.float64())])


def write(warehouse: Path, replica: str, buildings: int, start: datetime, days: int,
          length_s: int = 300, kinds: tuple[str, ...] = (), rate: float = 0.0,
          labels: Path | None = None, seed: int = 42) -> int:
    """Windows of `buildings` buildings of `replica` over `days` days from `start`; returns the
    windows written."""
    ids = building_ids(replica, buildings)
    out = open(labels, "a") if labels else None  # noqa: SIM115 - closed below
    try:
        sim = Simulator(ids, seed, replica, kinds, rate, out)
        names = np.asarray(ids, dtype=object)
        steps_per_day = 86_400 // length_s
        written = 0
        for d in range(days):
            day = start + timedelta(days=d)
            cols: dict[str, list] = {k: [] for k in SCHEMA.names}
            for k in range(steps_per_day):
                ts = day + timedelta(seconds=k * length_s)
                b = sim.step(d * steps_per_day + k, ts, length_s)
                n = len(b)
                at = int(ts.timestamp() * 1e6)
                cols["building_id"].append(names[b.index])
                cols["window_start"].append(np.full(n, at, dtype="int64"))
                cols["window_end"].append(np.full(n, at + length_s * 1_000_000, dtype="int64"))
                cols["readings"].append(np.ones(n, dtype="int64"))
                cols["energy_kwh"].append(b.energy_kwh)
                cols["avg_temperature"].append(b.temperature)
                cols["avg_humidity"].append(b.humidity)
                cols["avg_occupancy"].append(b.occupancy.astype("float64"))
            arrays = []
            for f in SCHEMA:
                v = np.concatenate(cols[f.name])
                arrays.append(pa.array(v, type=pa.int64()).cast(_TS) if f.type == _TS
                              else pa.array(v, type=f.type))
            folder = warehouse / "windows" / f"date={day:%Y-%m-%d}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_arrays(arrays, schema=SCHEMA),
                           folder / f"part-{replica}.parquet")
            written += len(arrays[0])
        sim.finish()
    finally:
        if out:
            out.close()
    return written


def metadata(replica: str, buildings: int, seed: int = 42) -> list[tuple[str, str, float]]:
    """(building_id, type, floor_area_m2) of the simulated buildings."""
    b = Buildings(building_ids(replica, buildings), seed)
    return list(zip(b.ids, b.type_names, b.area.tolist(), strict=True))
