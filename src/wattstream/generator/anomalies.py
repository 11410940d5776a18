"""Injected anomalies and their ground-truth labels.

Kinds (at most one active per building at a time):

- `hvac_overnight`: HVAC left running while the building is closed (a night or weekend); it
  starts only in closed hours and lasts until the schedule runs HVAC again (at most 60 h).
- `equipment_spike`: an equipment fault multiplying the load by 2-3.5 for 10-60 minutes.
- `stuck_meter`: the meter repeats one value for 1-6 hours.
- `sensor_dropout`: no readings at all for 15 minutes to 3 hours.

`Injector.plan` schedules an event at a given step instead (the demo's early spike); it is
labelled and counted like the drawn ones and leaves the random stream untouched.

A label is one JSON line `{"building", "start", "end", "kind"}`: `start` is the timestamp of the
first affected reading and `end` the end of the last one (exclusive), so a reading belongs to the
event when `start <= timestamp < end`. Labels are written when the event ends, or at shutdown with
the end truncated to the last interval produced.

The injector draws from its own random stream, so turning anomalies off leaves every other
reading of a seeded run unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import IO

import numpy as np

from ..errors import WattstreamError
from ..schema import format_timestamp
from .model import StepValues

HVAC_OVERNIGHT = "hvac_overnight"
EQUIPMENT_SPIKE = "equipment_spike"
STUCK_METER = "stuck_meter"
SENSOR_DROPOUT = "sensor_dropout"
KINDS = (HVAC_OVERNIGHT, EQUIPMENT_SPIKE, STUCK_METER, SENSOR_DROPOUT)

# Duration ranges in seconds for the fixed-length kinds.
_DURATIONS = {
    EQUIPMENT_SPIKE: (600, 3600),
    STUCK_METER: (3600, 6 * 3600),
    SENSOR_DROPOUT: (900, 3 * 3600),
}
HVAC_MAX_S = 60 * 3600


def parse_kinds(text: str) -> tuple[str, ...]:
    """`all`, `none`, or a comma-separated list of kinds."""
    text = (text or "").strip()
    if text in ("", "none"):
        return ()
    if text == "all":
        return KINDS
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise WattstreamError(
            f"unknown anomaly kind {unknown[0]!r} (known: {', '.join(KINDS)}, or all / none)"
        )
    return tuple(dict.fromkeys(kinds))


@dataclass(frozen=True)
class Label:
    building: str
    start: datetime
    end: datetime
    kind: str

    def to_json(self) -> str:
        return json.dumps({"building": self.building, "start": format_timestamp(self.start),
                           "end": format_timestamp(self.end), "kind": self.kind})


class Injector:
    """Starts, applies and ends anomalies for a fleet, one step at a time."""

    def __init__(self, building_ids: list[str], kinds: tuple[str, ...], rate_per_day: float,
                 seed: int, replica_key: int, sink: IO[str] | None = None):
        if rate_per_day < 0:
            raise WattstreamError(f"--anomaly-rate must be >= 0, got {rate_per_day}")
        self.ids = building_ids
        self.kinds = kinds
        self.rate_per_day = rate_per_day
        self.rng = np.random.default_rng([seed, 0xA7011, replica_key])
        n = len(building_ids)
        self.active = np.full(n, -1, dtype=np.int64)  # index into KINDS, -1 none
        self.start_ts: list[datetime | None] = [None] * n
        self.end_step = np.zeros(n, dtype=np.int64)
        self.factor = np.ones(n)
        self.stuck_value = np.zeros(n)
        self.sink = sink
        self.labels: list[Label] = []
        self.started: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.planned: list[tuple[int, int, str, int, float]] = []  # step, building, kind, ...

    def plan(self, i: int, kind: str, step: int, steps: int, factor: float = 1.0) -> None:
        """Start `kind` on building `i` at `step` for `steps` steps (`factor` for a spike),
        whatever the draws say; an event already running there ends at that step."""
        self.planned.append((step, i, kind, steps, factor))

    def _start(self, i: int, kind: str, ts: datetime, step: int, steps: float,
               factor: float) -> None:
        self.active[i] = KINDS.index(kind)
        self.start_ts[i] = ts
        self.end_step[i] = step + max(1, int(round(steps)))
        self.factor[i] = factor
        self.stuck_value[i] = -1.0
        self.started[kind] += 1

    @property
    def enabled(self) -> bool:
        return bool(self.kinds) and self.rate_per_day > 0

    def _close(self, i: int, end: datetime) -> None:
        label = Label(self.ids[i], self.start_ts[i], end, KINDS[self.active[i]])
        self.labels.append(label)
        if self.sink is not None:
            self.sink.write(label.to_json() + "\n")
            self.sink.flush()
        self.active[i] = -1
        self.start_ts[i] = None

    def apply(self, step: int, ts: datetime, dt_s: float, v: StepValues) -> np.ndarray:
        """Modify `v.energy_kwh` in place for this step; return the mask of readings to emit."""
        n = len(self.ids)
        present = np.ones(n, dtype=bool)
        if not self.enabled and not self.planned and not (self.active >= 0).any():
            return present
        hvac_idx = KINDS.index(HVAC_OVERNIGHT)
        # End events: fixed-length ones at their end step, HVAC ones when the schedule turns
        # HVAC (nearly) fully on again, i.e. when the building reopens.
        ending = (self.active >= 0) & (self.active != hvac_idx) & (self.end_step <= step)
        ending |= (self.active == hvac_idx) & (
            (v.hvac_fraction > 0.9) | (self.end_step <= step))
        for i in np.flatnonzero(ending):
            self._close(int(i), ts)
        for plan in [p for p in self.planned if p[0] <= step]:
            self.planned.remove(plan)
            _, i, kind, steps, factor = plan
            if self.active[i] >= 0:
                self._close(i, ts)
            self._start(i, kind, ts, step, steps, factor)
        # Start new events on idle buildings.
        if self.enabled:
            p = min(1.0, self.rate_per_day * dt_s / 86400.0)
            draws = self.rng.random((4, n))
            idle = self.active < 0
            starting = idle & (draws[0] < p)
            for i in np.flatnonzero(starting):
                kind = self.kinds[int(draws[1, i] * len(self.kinds))]
                if kind == HVAC_OVERNIGHT:
                    closed = v.occupancy_fraction[i] < 0.2 and v.hvac_fraction[i] < 0.9
                    if not closed:
                        continue  # HVAC is already running: nothing to leave on
                    steps = HVAC_MAX_S / dt_s
                else:
                    lo, hi = _DURATIONS[kind]
                    steps = (lo + (hi - lo) * draws[2, i]) / dt_s
                self._start(int(i), kind, ts, step, steps, 2.0 + 1.5 * draws[3, i])
        if not (self.active >= 0).any():
            return present
        hours = dt_s / 3600.0
        for k, kind in enumerate(KINDS):
            mask = self.active == k
            if not mask.any():
                continue
            if kind == HVAC_OVERNIGHT:
                # The setback share of HVAC that should have been off runs at full load.
                extra = (1 - v.hvac_fraction[mask]) * v.hvac_kw[mask] * v.noise[mask]
                v.energy_kwh[mask] += extra * hours
            elif kind == EQUIPMENT_SPIKE:
                v.energy_kwh[mask] *= self.factor[mask]
            elif kind == STUCK_METER:
                fresh = mask & (self.stuck_value < 0)
                self.stuck_value[fresh] = v.energy_kwh[fresh]
                v.energy_kwh[mask] = self.stuck_value[mask]
            elif kind == SENSOR_DROPOUT:
                present &= ~mask
        return present

    def finish(self, end: datetime) -> None:
        """Close events still running when the run stops, ending at `end`."""
        for i in np.flatnonzero(self.active >= 0):
            self._close(int(i), end)
