"""The tariff (`tariff` config): what a kWh costs and emits, and what a kW of demand costs, at
any instant of its history.

    t = Tariff(cfg.tariff)
    t.price_per_kwh(ts_s), t.carbon_kg_per_kwh(ts_s), t.demand_charge_per_kw(ts_s)

A tariff is a base version plus `changes` by effective date: each change names only what it
changes, so a price change from July leaves June priced as before. Energy is priced by
time-of-use periods (days of the week, hours, months, in `tariff.timezone`); an instant in no
period takes `energy_price_per_kwh`. Carbon intensity is a constant or an hourly profile file.
Lookups are vectorised over epoch seconds: a (version, month, weekday, hour) table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .config import TARIFF_VERSIONED, ConfigError, TariffConfig
from .specs import BASE, Period, tariff_changes

COST_COLUMNS = ("energy_cost", "co2_kg")  # what `Tariff.window_cost` adds to a final window


@dataclass(frozen=True)
class Version:
    """One tariff version, in effect from `start` (local midnight; None: always before)."""

    start: date | None
    energy_price_per_kwh: float
    periods: tuple[Period, ...]
    demand_charge_per_kw: float
    ratchet_share: float
    ratchet_months: int
    fixed_charge_per_month: float
    carbon_kg_per_kwh: float
    carbon_profile: str

    def price_table(self) -> np.ndarray:
        """Energy price per (month, weekday, hour)."""
        table = np.full((12, 7, 24), self.energy_price_per_kwh)
        for p in self.periods:
            table[p.cells] = p.price_per_kwh
        return table

    def period_table(self) -> np.ndarray:
        """Index into `periods` per (month, weekday, hour); -1: none (BASE)."""
        table = np.full((12, 7, 24), -1, dtype="int16")
        for i, p in enumerate(self.periods):
            table[p.cells] = i
        return table


def versions(cfg: TariffConfig) -> list[Version]:
    """The tariff's versions, oldest first (`specs.tariff_changes` parses and checks them)."""
    base, changes = tariff_changes(cfg)
    current = {k: getattr(cfg, k) for k in TARIFF_VERSIONED}
    current["periods"] = base
    out = [Version(start=None, **current)]
    for start, named in changes:
        current = {**current, **named}
        out.append(Version(start=start, **current))
    return out


class Tariff:
    """Vectorised lookups over the versions of a `tariff` config."""

    def __init__(self, cfg: TariffConfig):
        self.cfg = cfg
        self.zone = ZoneInfo(cfg.timezone)
        self.versions = versions(cfg)
        self.starts = np.array([_local_midnight_s(v.start, self.zone) if v.start else
                                np.iinfo("int64").min for v in self.versions], dtype="int64")
        self.prices = np.stack([v.price_table() for v in self.versions])
        self.period_index = np.stack([v.period_table() for v in self.versions])
        self.profiles = [_profile(v) for v in self.versions]
        self.interval_s = cfg.demand_interval_minutes * 60

    # --- per instant ---------------------------------------------------------------------
    def version_of(self, ts_s) -> np.ndarray:
        """Index of the version in effect at each instant (epoch seconds)."""
        return np.searchsorted(self.starts, np.asarray(ts_s, dtype="int64"), side="right") - 1

    def _cells(self, ts_s) -> tuple[np.ndarray, ...]:
        t = pd.to_datetime(np.asarray(ts_s, dtype="int64"), unit="s", utc=True)
        if self.cfg.timezone != "UTC":
            t = t.tz_convert(self.zone)
        return (t.month.to_numpy() - 1, t.dayofweek.to_numpy(), t.hour.to_numpy())

    def price_per_kwh(self, ts_s) -> np.ndarray:
        m, d, h = self._cells(ts_s)
        return self.prices[self.version_of(ts_s), m, d, h]

    def period_of(self, ts_s) -> np.ndarray:
        """The time-of-use period's name at each instant (BASE outside every period)."""
        v = self.version_of(ts_s)
        m, d, h = self._cells(ts_s)
        idx = self.period_index[v, m, d, h]
        names = np.full(len(idx), BASE, dtype=object)
        for i, ver in enumerate(self.versions):
            for j, p in enumerate(ver.periods):
                names[(v == i) & (idx == j)] = p.name
        return names

    def carbon_kg_per_kwh(self, ts_s) -> np.ndarray:
        ts = np.asarray(ts_s, dtype="int64")
        v = self.version_of(ts)
        out = np.empty(len(ts), dtype="float64")
        hours = None
        for i, (ver, prof) in enumerate(zip(self.versions, self.profiles, strict=True)):
            sel = v == i
            if not sel.any():
                continue
            out[sel] = ver.carbon_kg_per_kwh
            if prof is None:
                continue
            if isinstance(prof, np.ndarray):  # by hour of day
                if hours is None:
                    hours = self._cells(ts)[2]
                out[sel] = prof[hours[sel]]
            else:  # hourly series: the hour's value where the series has one
                at = ts[sel] // 3600 * 3600
                pos = np.searchsorted(prof[0], at)
                pos_ok = np.minimum(pos, len(prof[0]) - 1)
                hit = prof[0][pos_ok] == at
                vals = out[sel]
                vals[hit] = prof[1][pos_ok[hit]]
                out[sel] = vals
        return out

    def demand_charge_per_kw(self, ts_s) -> np.ndarray:
        rates = np.array([v.demand_charge_per_kw for v in self.versions])
        return rates[self.version_of(ts_s)]

    def window_cost(self, ws_s, energy_kwh) -> tuple[np.ndarray, np.ndarray]:
        """(energy cost, kg CO2e) of windows starting at `ws_s` (priced at their start)."""
        e = np.asarray(energy_kwh, dtype="float64")
        return e * self.price_per_kwh(ws_s), e * self.carbon_kg_per_kwh(ws_s)


def _local_midnight_s(day: date, zone: ZoneInfo) -> int:
    return int(pd.Timestamp(day).tz_localize(zone).tz_convert("UTC").timestamp())


@functools.lru_cache(maxsize=16)
def _read_profile(path: str):
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"tariff.carbon_profile: cannot read {path}: {exc}") from None
    if "kg_per_kwh" not in df:
        raise ConfigError(f"tariff.carbon_profile: {path} has no kg_per_kwh column")
    values = pd.to_numeric(df["kg_per_kwh"], errors="coerce")
    if values.isna().any() or (values < 0).any():
        raise ConfigError(f"tariff.carbon_profile: {path}: kg_per_kwh must be numbers >= 0 "
                          f"(row {int(np.flatnonzero(values.isna() | (values < 0))[0]) + 2})")
    if "hour" in df:
        hours = pd.to_numeric(df["hour"], errors="coerce")
        if sorted(hours.tolist()) != list(range(24)):
            raise ConfigError(f"tariff.carbon_profile: {path}: the hour column must hold "
                              "0..23 once each")
        out = np.empty(24)
        out[hours.astype(int).to_numpy()] = values.to_numpy()
        return out
    if "timestamp" in df:
        t = pd.to_datetime(df["timestamp"], utc=True, errors="coerce", format="ISO8601")
        if t.isna().any():
            raise ConfigError(f"tariff.carbon_profile: {path}: timestamp row "
                              f"{int(np.flatnonzero(t.isna())[0]) + 2} is not ISO 8601")
        s = (t - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1) // 3600 * 3600
        order = np.argsort(s.to_numpy(), kind="stable")
        return (s.to_numpy()[order].astype("int64"), values.to_numpy()[order])
    raise ConfigError(f"tariff.carbon_profile: {path} needs an hour or a timestamp column")


def _profile(v: Version):
    return _read_profile(str(Path(v.carbon_profile))) if v.carbon_profile else None
