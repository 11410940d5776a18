"""Per-building alert thresholds for a simulated fleet.

The global thresholds (`alerts.high_consumption_kwh`, `alerts.peak_demand_kwh`) are set for large
buildings, whose 5-minute windows reach them at busy hours. A small building would never reach
them, so it gets its own: simulating two weeks of January and two of July without anomalies,

    high_consumption_kwh = 1.1 x the building's 99th percentile window energy
    peak_demand_kwh      = 1.2 x high_consumption_kwh

for every building whose 99th percentile stays below the global high threshold.
`wattstream generate thresholds` prints the result as the `alerts.buildings` map to paste into
the config file (or the Helm values).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from ..config import Config
from .simulate import Simulator

SAMPLE_DAYS = 14
PERCENTILE = 99.0
HIGH_MARGIN, PEAK_RATIO = 1.1, 1.2


def window_energy(building_ids: list[str], seed: int, replica: str, window_s: float,
                  year: int = 2026) -> np.ndarray:
    """Window energy (steps x buildings) over the sample weeks, one model step per window."""
    out = []
    for month in (1, 7):
        sim = Simulator(building_ids, seed, replica)
        start = datetime(year, month, 1, tzinfo=UTC)
        steps = int(SAMPLE_DAYS * 86400 / window_s)
        for k in range(steps):
            out.append(sim.step(k, start + timedelta(seconds=k * window_s), window_s).energy_kwh)
    return np.array(out)


def fleet_thresholds(cfg: Config, building_ids: list[str], seed: int, replica: str
                     ) -> dict[str, dict[str, float]]:
    energy = window_energy(building_ids, seed, replica, float(cfg.windows.length_seconds))
    p = np.percentile(energy, PERCENTILE, axis=0)
    out = {}
    for bid, q in zip(building_ids, p.tolist(), strict=True):
        if q >= cfg.alerts.high_consumption_kwh:
            continue
        high = round(q * HIGH_MARGIN, 2)
        out[bid] = {"high_consumption_kwh": high, "peak_demand_kwh": round(high * PEAK_RATIO, 2)}
    return out
