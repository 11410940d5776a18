"""Each building's local time, defined once: its IANA zone and the local calendar fields the
baselines, schedules and reports use.

    zones = Zones(cfg)
    zones.name("gen-0-b00012")                    # "America/New_York"
    zones.hour_of_week(buildings, epoch_s)        # Monday 00:00 local = 0 … 167
    zones.fields(buildings, epoch_s)              # (day_of_week, hour), local

Event time stays UTC everywhere (readings, windows, Kafka, Parquet); local time is derived
here. A building's zone is, first found: its own entry in `calendar.timezones`, its weather
site's entry (`weather.sites`, `weather.default_site`), the first shell-glob pattern of
`calendar.timezones` that matches its id (in file order), else `calendar.timezone`. A day
with a DST change has 23 or 25 local hours; the hour of the week follows the wall clock, so
the repeated autumn hour maps to one hour of the week twice and the skipped spring hour to
none.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from datetime import UTC as _UTC
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .config import Config

UTC = "UTC"
HOURS_OF_WEEK = 168
_GLOB = set("*?[")


class Zones:
    """The zone of each building, from the configuration (cached per building)."""

    def __init__(self, cfg: Config):
        cal = cfg.calendar
        self.default = cal.timezone
        self._exact = {k: v for k, v in cal.timezones.items() if not _GLOB & set(k)}
        self._patterns = [(k, v) for k, v in cal.timezones.items() if _GLOB & set(k)]
        self._sites, self._default_site = cfg.weather.sites, cfg.weather.default_site
        self._cache: dict[str, str] = {}

    @property
    def uniform(self) -> str | None:
        """The one zone of every building when no entry names another, else None."""
        return self.default if not self._exact and not self._patterns else None

    def name(self, building: str) -> str:
        zone = self._cache.get(building)
        if zone is None:
            zone = self._cache[building] = self._resolve(building)
        return zone

    def _resolve(self, building: str) -> str:
        if building in self._exact:
            return self._exact[building]
        site = self._sites.get(building, self._default_site)
        if site and site in self._exact:
            return self._exact[site]
        for pattern, zone in self._patterns:
            if fnmatch.fnmatchcase(building, pattern):
                return zone
        return self.default

    def names(self, buildings: Iterable[str]) -> np.ndarray:
        return np.array([self.name(b) for b in buildings], dtype=object)

    def fields(self, buildings: Iterable[str], epoch_s) -> tuple[np.ndarray, np.ndarray]:
        """Local (day of week, Monday = 0; hour 0-23) of each building's instant."""
        epoch_s = np.asarray(epoch_s, dtype="float64")
        one = self.uniform
        if one is not None:
            return calendar_fields(one, epoch_s)
        zones = self.names(buildings)
        dow = np.empty(len(epoch_s), dtype="int64")
        hour = np.empty(len(epoch_s), dtype="int64")
        for zone in pd.unique(zones):
            at = zones == zone
            dow[at], hour[at] = calendar_fields(zone, epoch_s[at])
        return dow, hour

    def hour_of_week(self, buildings: Iterable[str], epoch_s) -> np.ndarray:
        """Monday 00:00 local = 0 … Sunday 23:00 local = 167, per building and instant."""
        dow, hour = self.fields(buildings, epoch_s)
        return dow * 24 + hour


def calendar_fields(zone: str, epoch_s) -> tuple[np.ndarray, np.ndarray]:
    """(day of week, hour) on the wall clock of `zone` at each instant (seconds, UTC)."""
    s = np.asarray(epoch_s, dtype="float64")
    if zone == UTC:  # the common case, without building timestamps
        days = np.floor(s / 86_400)
        return ((days + 3) % 7).astype("int64"), (np.floor(s / 3600) % 24).astype("int64")
    local = pd.to_datetime(s, unit="s", utc=True).tz_convert(zone)
    return np.asarray(local.dayofweek, dtype="int64"), np.asarray(local.hour, dtype="int64")


def offset_seconds(zone: str, epoch_s: float) -> float:
    """The zone's offset from UTC at one instant (seconds; DST included)."""
    if zone == UTC:
        return 0.0
    return ZoneInfo(zone).utcoffset(datetime.fromtimestamp(epoch_s, _UTC)).total_seconds()
