"""Each building's local time, defined once: its IANA zone and the local calendar fields the
baselines, schedules and reports use.

    cal = Calendar(cfg)
    cal.name("gen-0-b00012")                      # "America/New_York"
    cal.hour_of_week(buildings, epoch_s)          # Monday 00:00 local = 0 … 167
    cal.fields(buildings, epoch_s)                # (day_of_week, hour), local
    cal.day_off(buildings, epoch_s)               # a public holiday or closure day
    cal.day_type_hour(buildings, epoch_s)         # the hour of the week, or 168 + hour off

Event time stays UTC everywhere (readings, windows, Kafka, Parquet); local time is derived
here. A building's zone is, first found: its own entry in `calendar.timezones`, its weather
site's entry (`weather.sites`, `weather.default_site`), the first shell-glob pattern of
`calendar.timezones` that matches its id (in file order), else `calendar.timezone`. A day
with a DST change has 23 or 25 local hours; the hour of the week follows the wall clock, so
the repeated autumn hour maps to one hour of the week twice and the skipped spring hour to
none.

Days off are a building's public holidays (`calendar.holidays`: a country and optional
subdivision, from the `holidays` package) and closure days (`calendar.closures`), resolved
like zones, on its local calendar. The baselines treat them as their own day type.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable
from datetime import UTC as _UTC
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .config import Config
from .specs import holiday_days, parse_closures

UTC = "UTC"
HOURS_OF_WEEK = 168
DAY_TYPE_HOURS = HOURS_OF_WEEK + 24  # the week, then the hours of a day off
_GLOB = set("*?[")


class _Lookup:
    """One per-building setting: a building's own entry, its weather site's, the first
    shell-glob pattern matching its id (file order), else the default."""

    def __init__(self, entries: dict[str, str], default: str):
        self.exact = {k: v for k, v in entries.items() if not _GLOB & set(k)}
        self.patterns = [(k, v) for k, v in entries.items() if _GLOB & set(k)]
        self.default = default

    def __call__(self, building: str, site: str) -> str:
        if building in self.exact:
            return self.exact[building]
        if site and site in self.exact:
            return self.exact[site]
        for pattern, value in self.patterns:
            if fnmatch.fnmatchcase(building, pattern):
                return value
        return self.default


class Calendar:
    """Each building's zone and days off, from the configuration (cached per building)."""

    def __init__(self, cfg: Config):
        cal = cfg.calendar
        self.default = cal.timezone
        self._zone = _Lookup(cal.timezones, cal.timezone)
        self._holidays = _Lookup(cal.holidays, cal.default_holidays)
        self._closures = _Lookup(cal.closures, "")
        self._sites, self._default_site = cfg.weather.sites, cfg.weather.default_site
        self._uniform = not cal.timezones
        self.has_days_off = bool(cal.holidays or cal.default_holidays or cal.closures)
        self._cache: dict[str, tuple[str, str, str]] = {}

    @property
    def uniform(self) -> str | None:
        """The one zone of every building when no entry names another, else None."""
        return self.default if self._uniform else None

    def key(self, building: str) -> tuple[str, str, str]:
        """(zone, holidays, closures) of a building."""
        got = self._cache.get(building)
        if got is None:
            site = self._sites.get(building, self._default_site)
            got = self._cache[building] = (self._zone(building, site),
                                           self._holidays(building, site),
                                           self._closures(building, site))
        return got

    def name(self, building: str) -> str:
        return self.key(building)[0]

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

    def day_off(self, buildings: Iterable[str], epoch_s) -> np.ndarray:
        """Whether each building's local date at the instant is a public holiday of its
        country (and subdivision) or one of its closure days."""
        epoch_s = np.asarray(epoch_s, dtype="float64")
        out = np.zeros(len(epoch_s), dtype=bool)
        if not self.has_days_off or not len(epoch_s):
            return out
        groups: dict[tuple[str, str, str], list[int]] = {}
        for i, b in enumerate(buildings):
            groups.setdefault(self.key(b), []).append(i)
        for (zone, hol, clo), rows in groups.items():
            if not hol and not clo:
                continue
            at = np.asarray(rows)
            days = local_dates(zone, epoch_s[at])
            out[at] = np.isin(days, days_off(hol, clo, days.min(), days.max()))
        return out

    def day_type_hour(self, buildings: Iterable[str], epoch_s) -> np.ndarray:
        """The hour of the week (0-167) on ordinary days; on a holiday or closure day,
        its own day type: HOURS_OF_WEEK + the local hour (168-191)."""
        buildings = list(buildings)
        dow, hour = self.fields(buildings, epoch_s)
        return np.where(self.day_off(buildings, epoch_s), HOURS_OF_WEEK + hour, dow * 24 + hour)


def naive_utc(value):
    """A time (a scalar, or a Series) as the project stores it: naive UTC. An aware time is
    converted to UTC; a naive one is taken as UTC already; None stays None."""
    if value is None:
        return None
    if isinstance(value, pd.Series):
        s = pd.to_datetime(value)
        return s.dt.tz_convert(UTC).dt.tz_localize(None) if s.dt.tz is not None else s
    ts = pd.Timestamp(value)
    return ts.tz_convert(UTC).tz_localize(None) if ts.tzinfo else ts


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


def local_dates(zone: str, epoch_s) -> np.ndarray:
    """The zone's calendar date (datetime64[D]) at each instant."""
    s = np.asarray(epoch_s, dtype="float64")
    if zone == UTC:
        return np.floor(s / 86_400).astype("int64").astype("datetime64[D]")
    local = pd.to_datetime(s, unit="s", utc=True).tz_convert(zone).tz_localize(None)
    return np.asarray(local.normalize(), dtype="datetime64[D]")


def named_days_off(holidays_spec: str, closures: str, first: date, last: date
                   ) -> list[tuple[date, str]]:
    """The days off in [first, last] with what makes each one: a holiday's name, or
    'closure'."""
    out: dict[date, str] = {}
    if holidays_spec:
        for d, name in holiday_days(holidays_spec, first.year, last.year):
            if first <= d <= last:
                out[d] = name
    for a, b in parse_closures(closures):
        d = max(a, first)
        while d <= min(b, last):
            out.setdefault(d, "closure")
            d += timedelta(days=1)
    return sorted(out.items())


def days_off(holidays_spec: str, closures: str, first, last) -> np.ndarray:
    """The days off between two dates (datetime64[D], inclusive) as datetime64[D]."""
    a = pd.Timestamp(first).date()
    b = pd.Timestamp(last).date()
    return np.array([d for d, _ in named_days_off(holidays_spec, closures, a, b)],
                    dtype="datetime64[D]")


def is_day_off(key: tuple[str, str, str], epoch_s: float) -> bool:
    """Whether the local date of one instant is a day off for buildings of `key`
    (`Calendar.key`: zone, holidays, closures)."""
    zone, hol, clo = key
    if not hol and not clo:
        return False
    return _day_off_on(hol, clo, pd.Timestamp(local_dates(zone, [epoch_s])[0]).date())


@functools.lru_cache(maxsize=4096)
def _day_off_on(hol: str, clo: str, day: date) -> bool:
    return bool(named_days_off(hol, clo, day, day))
