"""The alert rules, as pure functions: deterministic ids and the ABNORMAL_USAGE test.

HIGH_CONSUMPTION and PEAK_DEMAND are raised by the reading whose running window energy first
passes the building's threshold; ABNORMAL_USAGE when a closed window lies more than
`alerts.abnormal_sigma` standard deviations from its hour-of-week baseline. The streaming
side of both is `running.fold`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import pandas as pd

HIGH = "HIGH_CONSUMPTION"
PEAK = "PEAK_DEMAND"
ABNORMAL = "ABNORMAL_USAGE"
TYPES = (HIGH, PEAK, ABNORMAL)

# (building, hour_of_week) -> (mean kWh, std kWh, windows seen)
Baseline = Mapping[tuple[str, int], tuple[float, float, int]]


def _digest(building: str, window_start: str, kind: str) -> str:
    return hashlib.sha256(f"{building}|{window_start}|{kind}".encode()).hexdigest()[:32]


def alert_id(building: str, window_start: datetime, kind: str) -> str:
    """Deterministic id: a replayed alert has the same id, so consumers can drop it."""
    return _digest(building, window_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), kind)


def alert_ids(buildings: Iterable[str], window_starts: pd.Series,
              kinds: Iterable[str]) -> list[str]:
    """`alert_id` of many alerts; `window_starts` are naive UTC timestamps."""
    starts = pd.DatetimeIndex(window_starts).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [_digest(b, ws, k) for b, ws, k in zip(buildings, starts, kinds, strict=True)]


def hour_of_week(ts: datetime) -> int:
    return ts.weekday() * 24 + ts.hour


def abnormal(energy: float, stats: tuple[float, float, int] | None, sigma: float,
             min_windows: int = 3) -> float | None:
    """The threshold a closed window broke (mean ± sigma·std), or None."""
    if stats is None:
        return None
    mean, std, n = stats
    if n < min_windows or not std or std <= 0:
        return None
    if energy > mean + sigma * std:
        return mean + sigma * std
    if energy < mean - sigma * std:
        return mean - sigma * std
    return None
