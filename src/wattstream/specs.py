"""The small languages some config values are written in, parsed and checked naming the key:
IANA zones, day/hour/month ranges (`mon-fri`, `12-18`, `6-9`), dates, time-of-use periods,
holiday countries (`US-NY`) and closure lists (`2026-12-24..2027-01-01`).

`config` checks every value with these at load time; `tariff` and `localtime` build on the same
parsers, so a value that loads is a value they can use. Nothing here imports the rest of the
package (its inputs are config dataclasses read by attribute), which keeps `config` at the
ground of the import graph.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from .errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BASE = "base"  # the tariff's name for the hours in no period


def check_zone(key: str, name: str) -> None:
    """Fail with the key's name unless `name` is an IANA zone this machine knows."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{key}: unknown zone {name!r} (an IANA name such as "
                          "America/New_York)") from None


def spans(key: str, text: str, lo: int, hi: int, *, names: tuple[str, ...] = (),
          half_open: bool = False) -> np.ndarray:
    """A comma list of ranges → a mask over lo..hi-1. Inclusive ranges (`mon-fri`, `6-9`), or
    half-open ones for hours (`12-18` is 12..17, `0-24` all day); a range may wrap (`22-6`)."""
    mask = np.zeros(hi - lo, dtype=bool)

    def value(tok: str) -> int:
        tok = tok.strip().lower()
        if names and tok in names:
            return names.index(tok) + lo
        if tok.isdigit() and lo <= int(tok) <= hi - (0 if half_open else 1):
            return int(tok)
        raise ConfigError(f"{key}: {tok!r} is not one of "
                          f"{'/'.join(names) if names else f'{lo}..{hi - (0 if half_open else 1)}'}"
                          f" (in {text!r})")

    for part in str(text).split(","):
        if not part.strip():
            raise ConfigError(f"{key}: empty range in {text!r}")
        a, _, b = part.partition("-")
        start = value(a)
        end = value(b) if b else (start + 1 if half_open else start)
        if not half_open:
            end += 1
        if start == end and half_open:
            raise ConfigError(f"{key}: empty range {part.strip()!r}")
        idx = (np.arange(start, end) if end > start
               else np.r_[np.arange(start, hi), np.arange(lo, end)])
        mask[idx - lo] = True
    return mask


def check_hours(key: str, text: str) -> np.ndarray:
    """Hours of the day (half-open ranges such as `0-5,22-24`) as a mask of 24."""
    return spans(key, text, 0, 24, half_open=True)


@dataclass(frozen=True)
class Period:
    name: str
    price_per_kwh: float
    cells: np.ndarray  # bool (12 months, 7 days, 24 hours)


def _period(key: str, name: str, p: Any) -> Period:
    if p.price_per_kwh is None:
        raise ConfigError(f"{key}.price_per_kwh: required")
    months = spans(f"{key}.months", p.months, 1, 13)
    days = spans(f"{key}.days", p.days, 0, 7, names=DAYS)
    hours = spans(f"{key}.hours", p.hours, 0, 24, half_open=True)
    return Period(name, p.price_per_kwh, months[:, None, None] & days[None, :, None]
                  & hours[None, None, :])


def periods(key: str, named: dict[str, Any]) -> tuple[Period, ...]:
    """Time-of-use periods (`TouPeriod` by name), sorted by name; fails on overlaps."""
    out = tuple(_period(f"{key}.{name}", name, p) for name, p in sorted(named.items()))
    for i, a in enumerate(out):
        if a.name == BASE:
            raise ConfigError(f"{key}.{BASE}: the name {BASE!r} is reserved for the hours in "
                              "no period")
        for b in out[i + 1:]:
            both = a.cells & b.cells
            if both.any():
                m, d, h = (int(x[0]) for x in np.nonzero(both))
                raise ConfigError(f"{key}.{b.name}: overlaps {key}.{a.name} (e.g. month "
                                  f"{m + 1}, {DAYS[d]}, hour {h})")
    return out


def effective_date(key: str, text: str) -> date:
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise ConfigError(f"{key}: not a date (YYYY-MM-DD)") from None


def changed_keys(key: str, change: Any) -> dict[str, Any]:
    """The keys a `TariffChange` names (not None); fails when it names none."""
    named = {f.name: getattr(change, f.name) for f in dataclasses.fields(change)
             if getattr(change, f.name) is not None}
    if not named:
        raise ConfigError(f"{key}: names nothing that changes")
    return named


def tariff_changes(cfg: Any) -> tuple[tuple[Period, ...], list[tuple[date, dict[str, Any]]]]:
    """A `tariff` section parsed, failing with the key's name where it cannot be applied:
    its periods, and each change by effective date (oldest first) with the keys it names,
    its periods parsed. Checks the zone too; files are read later."""
    check_zone("tariff.timezone", cfg.timezone)
    base = periods("tariff.periods", cfg.periods)
    changes = []
    for text, change in sorted(cfg.changes.items(), key=lambda kv: str(kv[0])):
        key = f"tariff.changes.{text}"
        start = effective_date(key, text)
        named = changed_keys(key, change)
        if "periods" in named:
            named["periods"] = periods(f"{key}.periods", named["periods"])
        changes.append((start, named))
    return base, changes


def check_tariff(cfg: Any) -> None:
    """Fail with the key's name on a `tariff` section that cannot be applied."""
    tariff_changes(cfg)


@functools.lru_cache(maxsize=256)
def holiday_days(spec: str, first_year: int, last_year: int) -> tuple[tuple[date, str], ...]:
    """(date, name) of the public holidays of `US-NY`-style `spec` over the years (the
    `holidays` package); NotImplementedError for an unknown country or subdivision."""
    import holidays

    country, _, subdiv = spec.partition("-")
    got = holidays.country_holidays(country, subdiv=subdiv or None,
                                    years=range(first_year, last_year + 1))
    return tuple(sorted(got.items()))


def parse_closures(text: str) -> list[tuple[date, date]]:
    """'2026-12-24..2027-01-01, 2026-08-03' → inclusive (first, last) date ranges."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        a, _, b = part.partition("..")
        first = date.fromisoformat(a.strip())
        last = date.fromisoformat(b.strip()) if b else first
        if last < first:
            raise ValueError(f"{part!r} ends before it starts")
        out.append((first, last))
    return out


def check_days_off(cal: Any) -> None:
    """Fail naming the key on an unknown holiday country or subdivision or a bad closure of a
    `calendar` section."""
    specs = [(f"calendar.holidays.{k}", v) for k, v in cal.holidays.items()]
    specs.append(("calendar.default_holidays", cal.default_holidays))
    for key, spec in specs:
        if not spec:
            continue
        try:
            holiday_days(spec, 2000, 2000)
        except NotImplementedError as exc:
            raise ConfigError(f"{key}: unknown holidays {spec!r} ({exc}; a country code with "
                              "an optional subdivision, e.g. US-NY, GB-ENG, DE-BY)") from None
    for k, text in cal.closures.items():
        try:
            parse_closures(text)
        except ValueError as exc:
            raise ConfigError(f"calendar.closures.{k}: {exc} (dates and ranges like "
                              "2026-12-24..2027-01-01, comma-separated)") from None
