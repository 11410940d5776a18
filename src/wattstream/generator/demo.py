"""The realtime demo (`generator.demo`): a fleet whose alerts show within minutes of a start.

A 5-minute window passes `alerts.high_consumption_kwh` (150 kWh) only at 1.8 MW or more, which
few buildings of the seeded mix draw, least of all at night, so a fresh pipeline stays quiet for
a long time. The demo changes what is simulated, never the thresholds:

- building 0 is a 36 000 m² hospital and building 1 a 40 000 m² office, with their type's
  nominal densities and hours (`Buildings(fixed=...)`): on a weekday morning about 2.1 and
  1.9 MW in mild weather, up to 2.7 and 2.5 MW with winter heating; the other buildings keep
  their seeded mix;
- event time starts at `generator.demo_start` (default: the latest weekday 10:00 UTC before the
  start) and advances at wall-clock speed, so readings come from a busy hour in real time;
  when the topic already holds later readings (a restarted or added replica, an earlier run)
  it continues from the latest of them instead, since the job drops readings behind its
  watermark: every replica then shares one event clock;
- an `equipment_spike` at the top of the kind's range (x3.5) runs in building 0 from 10 seconds
  of event time for 15 minutes, labelled and counted like every anomaly (the first two readings
  show the building as it normally is).

At the default thresholds building 0's first window passes 150 kWh 50-75 s after the start
and 180 kWh 10-15 s later (it ends near 550-800 kWh); building 1 passes 150 kWh 3.5-4.5
minutes in (165-210 kWh in the window), whatever the season.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from ..errors import WattstreamError
from ..schema import format_timestamp
from .anomalies import EQUIPMENT_SPIKE
from .simulate import Simulator

LARGE: dict[int, tuple[str, float]] = {0: ("hospital", 36_000.0), 1: ("office", 40_000.0)}
BUSY_HOUR = 10  # UTC; every type of the model is open and fully occupied then on weekdays
SPIKE_AFTER_S = 10.0
SPIKE_S = 900.0
SPIKE_FACTOR = 3.5


def fixed(buildings: int) -> dict[int, tuple[str, float]]:
    """The parameter overrides of a fleet of this size (a one-building fleet gets the hospital)."""
    return {i: spec for i, spec in LARGE.items() if i < buildings}


def latest_busy_start(now: float) -> datetime:
    """The latest weekday BUSY_HOUR:00 UTC at or before `now` (epoch seconds)."""
    t = datetime.fromtimestamp(now, tz=UTC).replace(hour=BUSY_HOUR, minute=0, second=0,
                                                    microsecond=0)
    if t.timestamp() > now:
        t -= timedelta(days=1)
    while t.weekday() >= 5:
        t -= timedelta(days=1)
    return t


def start(configured: datetime | None, now: float, latest: datetime | None = None,
          idle_window_s: float | None = None) -> tuple[datetime, str]:
    """The demo's first event time, and where it comes from ("" for the busy start) when it
    continues `latest`, the latest reading already in the topic. A configured start must not
    be ahead of the wall clock, since the event clock would then stay ahead for the whole run.

    `idle_window_s` (the window length) says nobody sends on that clock any more, as after an
    earlier run: the clock then moves on to the next window boundary, so that the run begins
    with a whole window and its spike alerts as early as on a fresh topic. A live fleet's clock
    is never moved: its readings would fall behind the job's watermark."""
    if configured is not None and configured.timestamp() > now:
        raise WattstreamError(f"generator.demo_start: {format_timestamp(configured)} is in the "
                              f"future; give a past time or leave it empty")
    first = configured or latest_busy_start(now)
    if latest is None or latest <= first:
        return first, ""
    if idle_window_s:
        w = idle_window_s
        nxt = datetime.fromtimestamp((math.floor(latest.timestamp() / w) + 1) * w, tz=UTC)
        return nxt, "the window after the latest reading in the topic"
    return latest, "the latest reading already in the topic"


def prepare(sim: Simulator, first: datetime, dt_s: float, origin: str = "") -> str:
    """Plan the spike of building 0 and return the line that tells what the demo does."""
    step = math.ceil(SPIKE_AFTER_S / dt_s)
    sim.injector.plan(0, EQUIPMENT_SPIKE, step, max(1, round(SPIKE_S / dt_s)), SPIKE_FACTOR)
    b = sim.buildings
    large = ", ".join(f"{b.ids[i]} a {b.area[i]:,.0f} m2 {b.type_names[i]}"
                      for i in fixed(len(b)))
    spike_at = first + timedelta(seconds=step * dt_s)
    origin = f" ({origin})" if origin else ""
    return (f"demo: {large}; event time starts at {format_timestamp(first)}{origin} and runs at "
            f"wall-clock speed; an {EQUIPMENT_SPIKE} (x{SPIKE_FACTOR:g}, {SPIKE_S / 60:g} min, "
            f"labelled) starts in {b.ids[0]} at {format_timestamp(spike_at)}; alert thresholds "
            f"unchanged")
