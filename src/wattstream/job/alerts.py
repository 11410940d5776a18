"""The alert types, defined once, as pure functions over pandas tables of windows.

Two kinds of rule:
  - threshold rules (`THRESHOLD_RULES`): raised by the reading whose running window energy
    first passes the building's threshold (`alerts.<setting>`, or the building's override),
    at most once per building, window and type, with that reading's event time;
  - close rules (`detect`): ABNORMAL_USAGE against the baseline model, STUCK_METER and
    METER_GAP, checked on each building's windows as the watermark closes them.

A new threshold type is one more `ThresholdRule` (and its setting in `config.AlertConfig` and
`ThresholdOverride`). Every alert has a deterministic id from (building, window start, type),
so a replayed alert can be dropped by its consumers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from ..alert_types import (  # noqa: F401 - the names, for the job's modules
    ABNORMAL,
    GAP,
    HIGH,
    PEAK,
    PEAK_AT_RISK,
    STUCK,
    TYPES,
    UNITS,
)
from ..config import AlertConfig

ALERT_COLUMNS = ("alert_id", "building_id", "type", "value", "threshold", "event_time",
                 "window_start", "window_end", "raised_at", "lead_minutes", "extra_charge")
# lead_minutes and extra_charge: PEAK_AT_RISK's time left in the billing interval and the
# demand charge its excess would add; null for the other types.


@dataclass(frozen=True)
class ThresholdRule:
    type: str
    setting: str  # the field of AlertConfig and ThresholdOverride holding the kWh threshold

    def thresholds(self, cfg: AlertConfig, buildings: pd.Series) -> np.ndarray:
        """The threshold of each building (its override, else the fleet's)."""
        out = np.full(len(buildings), float(getattr(cfg, self.setting)))
        if cfg.buildings:
            own = {b: getattr(o, self.setting) for b, o in cfg.buildings.items()
                   if getattr(o, self.setting) is not None}
            if own:
                mapped = buildings.map(own).to_numpy(dtype="float64", na_value=np.nan)
                out = np.where(np.isnan(mapped), out, mapped)
        return out


THRESHOLD_RULES = (ThresholdRule(HIGH, "high_consumption_kwh"),
                   ThresholdRule(PEAK, "peak_demand_kwh"))


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


def frame(building_id, window_start, window_end, kind, value, threshold, event_time,
          raised_at, lead_minutes=np.nan, extra_charge=np.nan) -> pd.DataFrame:
    """Alert rows with ALERT_COLUMNS, ids filled in (timestamps naive UTC)."""
    buildings = np.asarray(building_id, dtype=object)
    out = pd.DataFrame({"building_id": buildings,
                        "type": kind, "value": np.asarray(value, dtype="float64"),
                        "threshold": np.broadcast_to(np.asarray(threshold, dtype="float64"),
                                                     buildings.shape),
                        "event_time": pd.to_datetime(np.asarray(event_time)),
                        "window_start": pd.to_datetime(np.asarray(window_start)),
                        "window_end": pd.to_datetime(np.asarray(window_end)),
                        "raised_at": raised_at,
                        "lead_minutes": np.broadcast_to(np.asarray(lead_minutes, dtype="float64"),
                                                        buildings.shape),
                        "extra_charge": np.broadcast_to(np.asarray(extra_charge, dtype="float64"),
                                                        buildings.shape)})
    out.insert(0, "alert_id", alert_ids(out["building_id"], out["window_start"], out["type"]))
    return out[list(ALERT_COLUMNS)]


def empty() -> pd.DataFrame:
    return frame([], [], [], [], [], [], [], pd.Timestamp(0))
