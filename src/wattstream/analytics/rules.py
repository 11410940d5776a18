"""The recommendation rule pack: per building, what to fix, the evidence, and what it is worth
a year in kWh, money (the tariff) and CO2e, ranked across the fleet.

    found = recommend(usage, tariff, cfg.recommend, meta, alerts)
    found.table        # one row per (building, rule) that fired, RECOMMENDATION_COLUMNS
    found.fits         # per building: the change-point fit of daily energy on temperature

Rules (thresholds in `recommend` config; peers are the buildings of the same type, at least
`min_peers` others, or the whole fleet where types are unknown; loads are compared per m2 of
floor area when the metadata has it, else per kW of the building's average load):

- `base_load`: the night load (10th percentile of the `night_hours`) far above the peers'.
  Saving: the excess kW around the clock.
- `after_hours`: energy outside the occupancy schedule (from the occupancy readings, else the
  load's own hour-of-week profile). Days whose after-hours energy beats the building's
  typical day of the kind (weekday or weekend) by `after_hours_excess` and 3 robust deviations
  are "left on" (HVAC overnight, early starts, late stops); an after-hours share above the
  peers' is a schedule to tighten. Saving: the excess over the typical day and over the peers.
- `weekend`: weekend days using nearly what weekdays use, and more than the peers. Saving: the
  weekend energy above the peers' ratio.
- `peak_shaving`: the intervals that set each billing month's peak; a cap at the level the
  month's highest `peak_shave_hours` exceed. Saving: the demand charge of the kW above it.
- `temperature_sensitivity`: heating or cooling slope of a change-point fit of daily energy on
  daily outdoor temperature far above the peers'. Saving: the excess slope times the period's
  degree days.
- `load_factor`: average over peak demand far below the peers'; the peak-to-base ratio is the
  evidence. Saving: the demand charge of a peak at the peers' load factor.
- `data_quality`: missing windows, stuck meters and gaps: the share of the period's energy the
  bill would rest on estimates. No saving; ranked apart.

Hours of the day and week, days and weekends are each building's own local time (its zone in
`calendar`); prices and billing months are on the tariff's clock.

Savings are annualised from the period (× 365 / its days). Demand savings of `peak_shaving`
and `load_factor` overlap: a building keeps the larger as its row (`category` "demand"), the
other's evidence appended.

A finding says what it rests on. The demand rules take only the peaks of the billing months
(`tariff.billing_day`, in `tariff.timezone`) the period holds whole, since a partial month's
highest interval is not the month's peak; the energy rules annualise at least a month of data
(`MONTH_DAYS`). Where that is missing, the finding is still made from what there is, and its
`provisional` column says why; the report lists such findings apart from the ranked ones and
leaves them out of its savings totals.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..alert_types import GAP, STUCK
from ..billing import billing_month
from ..config import RecommendConfig
from ..specs import check_hours
from ..tariff import Tariff
from .usage import HOUR, Usage

RECOMMENDATION_COLUMNS = ("building_id", "rule", "category", "title", "evidence", "saving_kwh",
                          "saving_cost", "saving_co2_kg", "when", "provisional")
# when: the evidence's times, ISO 8601 intervals in UTC (left-on runs, peak-setting intervals)
# provisional: why the finding lacks its basis (a month of data for an energy rule, a complete
# billing month for a demand rule); "": it has it
RULES = ("base_load", "after_hours", "weekend", "peak_shaving", "temperature_sensitivity",
         "load_factor", "data_quality")
CATEGORY = {"peak_shaving": "demand", "load_factor": "demand", "data_quality": "data"}
DAYS_PER_YEAR = 365.0
MONTH_DAYS = 28  # an energy finding annualised from fewer days is provisional
NIGHT_PERCENTILE = 10
MAD_SCALE = 1.4826  # a median absolute deviation → a normal standard deviation
LEFT_ON_HOURS = 2  # shorter after-hours excursions are equipment spikes, not a schedule
HEAT_POINTS = np.arange(8.0, 21.0, 1.0)   # candidate heating balance points, °C
COOL_POINTS = np.arange(14.0, 27.0, 1.0)  # … cooling
TERM_DAYS = 7  # days beyond a balance point a heating or cooling term needs


@dataclass
class Findings:
    table: pd.DataFrame  # RECOMMENDATION_COLUMNS, highest saving_cost first
    fits: pd.DataFrame   # building_id, base_kwh_day, weekend_kwh_day (added on weekend
    # days), heat_slope, heat_balance, cool_slope, cool_balance (kWh per day and K; NaN
    # balance: no such term), days
    quality: pd.DataFrame  # building_id, windows, missing, missing_share, stuck_alerts,
    # stuck_minutes, gap_alerts, local_time_mismatches, estimated_share


@dataclass
class Fleet:
    """What the rules share: the usage, each building's local time of each hour, prices and
    peers.

    Local time is the building's own zone (`zones`, from `calendar`; the tariff's zone when
    not given): its hour of the day and week (`hod`, `dow`, `how`: (B, H)) and its local
    days. Days are one axis for the whole fleet, the local dates of every zone in it; a
    building's `day_len` is 0 on a date its zone's hours do not reach. Prices and billing
    stay on the tariff's clock."""

    usage: Usage
    tariff: Tariff
    cfg: RecommendConfig
    types: np.ndarray   # (B,) building type ("" unknown)
    area: np.ndarray    # (B,) floor area m2 (NaN unknown)
    zones: np.ndarray | None = None  # (B,) IANA zone of each building

    def __post_init__(self):
        u = self.usage
        B, H = len(u.buildings), len(u.hours_s)
        if self.zones is None:
            self.zones = np.full(B, self.tariff.cfg.timezone, dtype=object)
        self.zones = np.asarray(self.zones, dtype=object)
        utc = pd.to_datetime(u.hours_s, unit="s", utc=True)
        self.hod = np.zeros((B, H), dtype=np.int64)
        self.dow = np.zeros((B, H), dtype=np.int64)
        local_days = []
        for zone in pd.unique(self.zones):
            rows = np.flatnonzero(self.zones == zone)
            t = utc.tz_convert(zone)
            self.hod[rows] = t.hour.to_numpy()
            self.dow[rows] = t.dayofweek.to_numpy()
            local_days.append((rows, t.tz_localize(None).normalize().to_numpy()))
        self.how = self.dow * 24 + self.hod
        days = (np.unique(np.concatenate([d for _, d in local_days])) if local_days
                else np.array([], dtype="datetime64[ns]"))
        # Per zone: its buildings, the first hour of each of its local days, those days'
        # columns on the fleet's day axis.
        self._zone_days = []
        self.day_len = np.zeros((B, len(days)), dtype=np.int64)
        for rows, d in local_days:
            starts = np.r_[0, np.flatnonzero(d[1:] != d[:-1]) + 1] if len(d) else np.array(
                [], dtype=np.int64)
            cols = np.searchsorted(days, d[starts])
            self._zone_days.append((rows, starts, cols))
            self.day_len[np.ix_(rows, cols)] = np.diff(np.r_[starts, len(d)])[None, :]
        index = pd.DatetimeIndex(days)
        self.day_weekend = index.dayofweek.to_numpy() >= 5
        self.day_label = index.strftime("%Y-%m-%d").to_numpy()
        self.price = self.tariff.price_per_kwh(u.hours_s)
        self.carbon = self.tariff.carbon_kg_per_kwh(u.hours_s)
        self.kw = u.kw()
        self.annual = DAYS_PER_YEAR / u.days
        e = np.nan_to_num(u.energy)
        total = e.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.avg_price = np.where(total > 0, (e * self.price).sum(axis=1) / total,
                                      self.price.mean())
            self.avg_carbon = np.where(total > 0, (e * self.carbon).sum(axis=1) / total,
                                       self.carbon.mean())
        self.mean_kw = np.nanmean(np.where(np.isfinite(self.kw), self.kw, np.nan), axis=1) \
            if self.kw.size else np.zeros(len(u.buildings))
        self.complete_months = complete_months(u.hours_s, self.tariff.cfg.billing_day,
                                               self.tariff.cfg.timezone)

    @property
    def period_provisional(self) -> str:
        """Why the period's energy findings are provisional: "" when it spans a month."""
        if self.usage.days >= MONTH_DAYS:
            return ""
        return (f"annualised from only {self.usage.days:.0f} days, less than a month of "
                "data")

    def demand_months(self, top: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """The rows of `top` (highest intervals by building and month) a demand finding may
        rest on: per building, those of the complete billing months where it has any, else
        all of them; and per building why its finding is provisional ("": it is not)."""
        whole = top["month"].isin(self.complete_months).to_numpy()
        has_whole = pd.Series(whole, index=top.index).groupby(top["building_id"]).transform("any")
        keep = whole | ~has_whole.to_numpy()
        kept = top[keep]
        days = self.usage.days
        why = kept.groupby("building_id")["month"].agg(lambda m: "" if m.isin(
            self.complete_months).any() else (
            f"no complete billing month in the period ({days:.0f} days): the peak of a partial "
            "month is not the month's peak"))
        return kept, why

    @property
    def with_area(self) -> np.ndarray:
        return np.isfinite(self.area) & (self.area > 0)

    def per_size(self, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """value per m2 (×1000: per 1000 m2) where the area is known, else per kW of the
        building's average load; and the divisor to undo it."""
        size = np.where(self.with_area, self.area / 1000.0, self.mean_kw)
        with np.errstate(invalid="ignore", divide="ignore"):
            return value / size, size

    def peers(self, value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per building: the median of its peers' values, how many peers, and their kind
        (the type, or "fleet" where types are unknown; NaN without `min_peers` of them).
        Peers are compared like for like: per m2 with per m2."""
        df = pd.DataFrame({"v": value, "t": self.types, "a": self.with_area})
        ok = np.isfinite(value)
        stats = ["median", "size"]
        typed = df[["t", "a"]].merge(df[ok].groupby(["t", "a"], as_index=False)["v"].agg(stats),
                                     on=["t", "a"], how="left")
        fleet = df[["a"]].merge(df[ok].groupby("a", as_index=False)["v"].agg(stats), on="a",
                                how="left")
        others_typed = typed["size"].fillna(0).to_numpy() - ok
        others_fleet = fleet["size"].fillna(0).to_numpy() - ok
        typed_ = df["t"].to_numpy() != ""
        use_typed = typed_ & (others_typed >= self.cfg.min_peers)
        # A building of a known type is not held to other types (a hospital is not an
        # office); the fleet stands in only where types are unknown.
        use_fleet = ~typed_ & (others_fleet >= self.cfg.min_peers)
        med = np.where(use_typed, typed["median"], np.where(use_fleet, fleet["median"], np.nan))
        n = np.where(use_typed, others_typed, np.where(use_fleet, others_fleet, 0)).astype(int)
        kind = np.where(use_typed, df["t"].to_numpy(), "fleet").astype(object)
        return med, n, kind

    def daily(self, values: np.ndarray) -> np.ndarray:
        """(B, H) → (B, days) sums over each building's local days (NaN counted as 0; 0 on a
        date its zone's hours do not reach)."""
        v = np.nan_to_num(values)
        out = np.zeros((v.shape[0], len(self.day_label)), dtype=v.dtype)
        for rows, starts, cols in self._zone_days:
            if len(starts):
                out[np.ix_(rows, cols)] = np.add.reduceat(v[rows], starts, axis=1)
        return out

    def by_hour_of_week(self, values: np.ndarray) -> np.ndarray:
        """(B, H) → (B, 168) the median of each local hour of the week (NaN: none)."""
        out = np.full((values.shape[0], 168), np.nan)
        for rows, _, _ in self._zone_days:
            how = self.how[rows[0]]
            part = values[rows]
            for h in range(168):
                cols = how == h
                if cols.any():
                    with np.errstate(all="ignore"), _quiet():
                        out[rows, h] = np.nanmedian(part[:, cols], axis=1)
        return out

    def at_hour_of_week(self, table: np.ndarray) -> np.ndarray:
        """(B, 168) → (B, H): each hour's value of its building's local hour of the week."""
        return np.take_along_axis(table, self.how, axis=1)

    @functools.cached_property
    def daily_temperature(self) -> np.ndarray:
        """(B, days) mean outdoor temperature of each local day (NaN: none)."""
        t = self.usage.temperature
        with np.errstate(all="ignore"):
            return (self.daily(np.where(np.isfinite(t), t, 0.0))
                    / self.daily(np.isfinite(t).astype(float)))

    @functools.cached_property
    def complete_days(self) -> np.ndarray:
        """(B, days): the day has every window of its hours."""
        per_hour = HOUR / self.usage.length_s
        have = self.daily(self.usage.windows)
        return (have >= self.day_len * per_hour) & (self.day_len >= 23)


def temperature_days(u: Usage, tariff: Tariff, cfg: RecommendConfig, i: int,
                     zone: str | None = None) -> pd.DataFrame:
    """Building `i`'s local days (in `zone`, default the tariff's) as the change-point fit
    sees them: `temperature` (daily mean outdoor °C), `energy_kwh`, `weekend`, `complete`
    (every window of the day, a temperature)."""
    one = u.take([i])
    f = Fleet(one, tariff, cfg, np.array([""], dtype=object), np.array([np.nan]),
              None if zone is None else np.array([zone], dtype=object))
    t = f.daily_temperature[0]
    return pd.DataFrame({"temperature": t, "energy_kwh": f.daily(one.energy)[0],
                         "weekend": f.day_weekend,
                         "complete": f.complete_days[0] & np.isfinite(t)})


def complete_months(hours_s: np.ndarray, billing_day: int, zone: str) -> frozenset[int]:
    """The billing months (`billing.billing_month`) that hours starting at `hours_s` (whole,
    consecutive) cover from their first hour to their last."""
    if not len(hours_s):
        return frozenset()
    month = billing_month(hours_s, billing_day, zone)
    edges = billing_month(np.array([hours_s[0] - HOUR, hours_s[-1] + HOUR]), billing_day, zone)
    partial = {month[0]} if edges[0] == month[0] else set()
    if edges[1] == month[-1]:
        partial.add(month[-1])
    return frozenset(int(m) for m in np.unique(month)) - partial


def _row(f: Fleet, i: int, rule: str, title: str, evidence: str, kwh: float, cost: float,
         co2: float, when: list[str], provisional: str | None = None) -> dict:
    if rule not in RULES:  # RULES lists every rule the pack can fire, for its readers
        raise ValueError(f"rule {rule!r} is not in rules.RULES")
    return {"building_id": f.usage.buildings[i], "rule": rule,
            "category": CATEGORY.get(rule, rule), "title": title, "evidence": evidence,
            "saving_kwh": float(kwh), "saving_cost": float(cost), "saving_co2_kg": float(co2),
            "when": when,
            "provisional": f.period_provisional if provisional is None else provisional}


def _peer_text(n: int, kind: str) -> str:
    return f"{n} {'buildings of the fleet' if kind == 'fleet' else kind + ' peers'}"


def _size_text(f: Fleet, i: int) -> str:
    return "per 1000 m²" if f.with_area[i] else "per kW of average load"


# --- the rules --------------------------------------------------------------------------------

def base_load(f: Fleet) -> tuple[list[dict], np.ndarray]:
    night = check_hours("recommend.night_hours", f.cfg.night_hours)[f.hod]   # (B, H)
    kw = np.where(night, f.kw, np.nan)
    ok = np.isfinite(kw).sum(axis=1) > 0
    base = np.full(len(kw), np.nan)
    if ok.any():
        base[ok] = np.nanpercentile(kw[ok], NIGHT_PERCENTILE, axis=1)
    intensity, size = f.per_size(base)
    med, n, kind = f.peers(intensity)
    rows = []
    for i in np.flatnonzero(intensity > f.cfg.base_load_ratio * med):
        excess = base[i] - med[i] * size[i]
        kwh = excess * 24 * DAYS_PER_YEAR
        rows.append(_row(
            f, i, "base_load", "Base load high for its peers",
            f"night load {base[i]:.1f} kW is {intensity[i]:.2f} kW {_size_text(f, i)}, "
            f"{intensity[i] / med[i]:.1f}× the median of {_peer_text(n[i], kind[i])} "
            f"({med[i]:.2f}); the excess {excess:.1f} kW runs around the clock",
            kwh, kwh * f.price.mean(), kwh * f.carbon.mean(), []))
    return rows, base


def schedule(f: Fleet) -> tuple[np.ndarray, np.ndarray]:
    """(B, 168) occupied hours of the week: from the occupancy readings where a building has
    them (occupied above a tenth of its busiest hour), else from its load (above the middle
    of its quietest and busiest hour of the week); and (B, 168) the median kW of each hour of
    the week."""
    occ = f.by_hour_of_week(f.usage.occupancy)
    load = f.by_hour_of_week(f.kw)
    with np.errstate(all="ignore"), _quiet():
        has_occ = np.isfinite(occ).sum(axis=1) >= 84
        by_occ = occ > 0.1 * np.nanmax(occ, axis=1, keepdims=True)
        lo, hi = np.nanmin(load, axis=1, keepdims=True), np.nanmax(load, axis=1, keepdims=True)
        by_load = load > lo + 0.5 * (hi - lo)
    return np.where(has_occ[:, None], by_occ, by_load), load


def after_hours(f: Fleet, occupied: np.ndarray, typical: np.ndarray) -> list[dict]:
    """Runs of closed hours (at least LEFT_ON_HOURS) whose load stands above the building's
    typical load of that hour of the week (moved by its own temperature response and by what
    the fleet did at that hour) by `after_hours_excess` of it and 3 robust deviations: HVAC
    or equipment left on. The after-hours share, without those runs, against
    the peers': a schedule to tighten."""
    u = f.usage
    closed = ~f.at_hour_of_week(occupied)                            # (B, H)
    e = np.nan_to_num(u.energy)
    # Typical: the hour of the week's median load, moved by the building's own response of
    # closed hours to the temperature's departure from that hour's median (a hot weekend
    # afternoon runs the setback HVAC harder), fitted once more without the high outliers.
    expect = f.at_hour_of_week(typical)
    over = f.kw - expect
    d_temp = u.temperature - f.at_hour_of_week(f.by_hour_of_week(u.temperature))
    fit = _line(over, d_temp, closed)
    with np.errstate(all="ignore"), _quiet():
        sigma = MAD_SCALE * np.nanmedian(np.abs(np.where(closed, over - fit, np.nan)), axis=1,
                                         keepdims=True)
        fit = _line(over, d_temp, closed & (over - fit <= 3 * sigma))
        over = over - fit
        # What the whole fleet did at that hour is weather or the grid, not a building left
        # on: the median excess share of the buildings closed then comes off.
        share = np.where(closed & (expect > 0), over / expect, np.nan)
        enough = np.isfinite(share).sum(axis=0) > f.cfg.min_peers
        common = np.where(enough, np.clip(np.nanmedian(share, axis=0), 0, None), 0.0)
        over = over - common[None, :] * expect
        sigma = MAD_SCALE * np.nanmedian(np.abs(np.where(closed, over, np.nan)), axis=1,
                                         keepdims=True)
        hot = closed & (over > f.cfg.after_hours_excess * expect) & (over > 3 * sigma)
    runs, starts, lengths = _runs(hot, LEFT_ON_HOURS)
    hours = np.where(u.windows > 0, u.windows * u.length_s / HOUR, 0.0)
    excess = np.where(runs, np.nan_to_num(over) * hours, 0.0)      # kWh above typical
    total = e.sum(axis=1)
    with np.errstate(all="ignore"):
        share = (np.where(closed, e, 0.0).sum(axis=1) - excess.sum(axis=1)) / total
    med, n, kind = f.peers(share)
    run_b, run_h = np.divmod(starts, excess.shape[1])
    run_kwh = np.array([excess[bi, h:h + k].sum()
                        for bi, h, k in zip(run_b, run_h, lengths, strict=True)])
    utc = pd.to_datetime(u.hours_s, unit="s", utc=True)
    rows = []
    for i in range(len(u.buildings)):
        mine = np.flatnonzero(run_b == i)
        kwh_runs = run_kwh[mine].sum() * f.annual
        kwh_share = ((share[i] - med[i]) * total[i] * f.annual
                     if share[i] > med[i] + f.cfg.after_hours_share_margin else 0.0)
        if kwh_runs <= 0 and kwh_share <= 0:
            continue
        parts, when = [], []
        if kwh_runs > 0:
            worst = mine[np.argsort(-run_kwh[mine])][:3]
            local = utc[run_h[worst]].tz_convert(f.zones[i])
            when = [_interval(u.hours_s[h], lengths[r] * HOUR)
                    for r, h in zip(mine, run_h[mine], strict=True)]
            parts.append(f"left on after hours {len(mine)} time(s), +{run_kwh[mine].sum():.0f} "
                         "kWh over its typical load of those hours; worst "
                         + ", ".join(f"{at:%a %Y-%m-%d %H:%M} for "
                                     f"{lengths[r]} h (+{run_kwh[r]:.0f} kWh, "
                                     f"{_edge(occupied[i], f.how[i], run_h[r], lengths[r])})"
                                     for r, at in zip(worst, local, strict=True)))
        if kwh_share > 0:
            parts.append(f"{share[i]:.0%} of its energy is used outside the schedule vs "
                         f"{med[i]:.0%} for {_peer_text(n[i], kind[i])}")
        kwh = kwh_runs + kwh_share
        rows.append(_row(f, i, "after_hours", "Energy used outside the occupancy schedule",
                         "; ".join(parts), kwh, kwh * _masked_mean(f.price, closed[i], e[i]),
                         kwh * _masked_mean(f.carbon, closed[i], e[i]), when))
    return rows


def _edge(occupied: np.ndarray, how: np.ndarray, start: int, length: int) -> str:
    """What a left-on run looks like: it ends where the schedule opens (an early start), begins
    where it closes (a late stop), or neither (left on overnight or over a weekend)."""
    end = start + length
    early = end < len(how) and occupied[how[end]]
    late = start > 0 and occupied[how[start - 1]]
    if early and late:
        return "all the closed hours"
    return "early start" if early else "late stop" if late else "overnight or weekend"


def _runs(mask: np.ndarray, min_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of runs of at least `min_len` True along each row; the runs' flat starts (row ×
    width + column) and lengths."""
    B, H = mask.shape
    flat = np.concatenate([mask, np.zeros((B, 1), dtype=bool)], axis=1).ravel()
    d = np.diff(np.r_[0, flat.astype(np.int8), 0])
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    keep = ends - starts >= min_len
    starts, ends = starts[keep], ends[keep]
    marks = np.zeros(len(flat) + 1, dtype=np.int64)
    np.add.at(marks, starts, 1)
    np.add.at(marks, ends, -1)
    cells = (np.cumsum(marks)[:-1] > 0).reshape(B, H + 1)[:, :H]
    rows, cols = np.divmod(starts, H + 1)
    return cells, rows * H + cols, ends - starts


def weekend(f: Fleet) -> list[dict]:
    daily = f.daily(f.usage.energy)
    full = f.complete_days
    we = np.where(full & f.day_weekend[None, :], daily, np.nan)
    wd = np.where(full & ~f.day_weekend[None, :], daily, np.nan)
    with np.errstate(all="ignore"), _quiet():
        we_mean, wd_mean = np.nanmean(we, axis=1), np.nanmean(wd, axis=1)
        ratio = we_mean / wd_mean
    med, n, kind = f.peers(ratio)
    rows = []
    weekend_hours = f.dow >= 5
    e = np.nan_to_num(f.usage.energy)
    hit = (ratio >= f.cfg.weekend_ratio) & (ratio > med + f.cfg.weekend_peer_margin)
    for i in np.flatnonzero(hit):
        kwh = (ratio[i] - med[i]) * wd_mean[i] * DAYS_PER_YEAR * 2 / 7
        rows.append(_row(
            f, i, "weekend", "Weekends use nearly what weekdays use",
            f"a weekend day uses {we_mean[i]:.0f} kWh, {ratio[i]:.0%} of a weekday's "
            f"{wd_mean[i]:.0f} kWh, vs {med[i]:.0%} for {_peer_text(n[i], kind[i])}",
            kwh, kwh * _masked_mean(f.price, weekend_hours[i], e[i]),
            kwh * _masked_mean(f.carbon, weekend_hours[i], e[i]), []))
    return rows


def peak_shaving(f: Fleet) -> list[dict]:
    top = f.usage.top
    if top.empty:
        return []
    top, provisional = f.demand_months(top)
    k = int(np.ceil(f.cfg.peak_shave_hours * HOUR / f.tariff.interval_s))
    # `top` is highest first per building and month: rank 0 is the peak, rank k the cap.
    rank = top.groupby(["building_id", "month"], sort=False).cumcount().to_numpy()
    caps = top[rank == k][["building_id", "month", "kw"]].rename(columns={"kw": "cap"})
    m = top[rank == 0].merge(caps, on=["building_id", "month"])
    if m.empty:
        return []
    m["cut"] = m["kw"] - m["cap"]
    m["rate"] = f.tariff.demand_charge_per_kw(m["iv"].to_numpy())
    months = m.groupby("building_id").size()
    hit = m[m["cut"] >= f.cfg.peak_shave_share * m["kw"]].copy()
    if hit.empty:
        return []
    hit["value"] = hit["cut"] * hit["rate"]
    months_in_period = max(1.0, f.usage.days / (DAYS_PER_YEAR / 12))
    value = hit.groupby("building_id")["value"].sum()
    count = hit.groupby("building_id").size()
    ivs = hit.groupby("building_id")["iv"].agg(list)
    index = {b: i for i, b in enumerate(f.usage.buildings)}
    rows = []
    for w in hit.sort_values("cut", ascending=False).drop_duplicates("building_id").itertuples():
        b = w.building_id
        # Complete months: each is a month; partial ones (provisional) no fewer than the
        # period's length in months.
        per_year = value[b] * 12 / (months[b] if not provisional[b]
                                     else max(months[b], months_in_period))
        rows.append(_row(
            f, index[b], "peak_shaving", "Shave the intervals that set the monthly peak",
            f"the peak of {w.kw:.0f} kW at {pd.Timestamp(int(w.iv), unit='s'):%Y-%m-%d %H:%M} "
            f"UTC stands {w.cut:.0f} kW above the {w.cap:.0f} kW that only the month's "
            f"highest {f.cfg.peak_shave_hours:g} h of intervals exceed; a cap there saves "
            f"{w.cut:.0f} kW × {w.rate:.2f}/kW in that month ({count[b]} of {months[b]} "
            f"{'complete ' if not provisional[b] else ''}month(s) qualify; × 12 / "
            f"{months[b] if not provisional[b] else max(months[b], months_in_period):.1f} "
            "months a year)",
            0.0, per_year, 0.0, [_interval(iv, f.tariff.interval_s) for iv in ivs[b]],
            provisional[b]))
    return rows


def change_point_fits(f: Fleet) -> pd.DataFrame:
    """Per building: daily energy = base + weekend·[weekend day] + heat·max(0, Th − T) +
    cool·max(0, T − Tc), slopes ≥ 0, balance points by grid search (either term may be
    absent), least squares over the complete days with a temperature."""
    u = f.usage
    e_day = f.daily(u.energy)
    t_day = f.daily_temperature
    w = (f.complete_days & np.isfinite(t_day)).astype(float)
    t = np.nan_to_num(t_day)
    B = len(u.buildings)
    best = np.full(B, np.inf)
    out = np.full((B, 6), np.nan)  # base, heat, Th, cool, Tc, weekend
    options = ([(th, None) for th in HEAT_POINTS] + [(None, tc) for tc in COOL_POINTS]
               + [(th, tc) for th in HEAT_POINTS for tc in COOL_POINTS if tc >= th]
               + [(None, None)])
    weekend = np.broadcast_to(f.day_weekend.astype(float), t.shape)
    y = np.nan_to_num(e_day)
    for th, tc in options:
        cols = [np.ones_like(t), weekend]
        if th is not None:
            cols.append(np.maximum(0.0, th - t))
        if tc is not None:
            cols.append(np.maximum(0.0, t - tc))
        X = np.stack(cols, axis=2)                               # (B, days, p)
        Xw = X * w[..., None]
        xtx = Xw.transpose(0, 2, 1) @ X + 1e-9 * np.eye(X.shape[2])
        xty = Xw.transpose(0, 2, 1) @ y[..., None]
        beta = np.linalg.solve(xtx, xty)[..., 0]
        resid = y - (X @ beta[..., None])[..., 0]
        sse = (w * resid ** 2).sum(axis=1)
        valid = (beta[:, 2:] >= 0).all(axis=1) & (w.sum(axis=1) >= X.shape[2] + 3)
        # A heating or cooling term needs days on its side of the balance point to be seen.
        if th is not None:
            valid &= (w * (t < th)).sum(axis=1) >= TERM_DAYS
        if tc is not None:
            valid &= (w * (t > tc)).sum(axis=1) >= TERM_DAYS
        # A term must pay for itself: 2 % less error per extra parameter.
        sse = sse * (1 + 0.02 * (X.shape[2] - 2))
        better = valid & (sse < best)
        best = np.where(better, sse, best)
        j = 2
        out[better, 0] = beta[better, 0]
        out[better, 1:5] = np.nan
        out[better, 5] = beta[better, 1]
        if th is not None:
            out[better, 1], out[better, 2] = beta[better, j], th
            j += 1
        if tc is not None:
            out[better, 3], out[better, 4] = beta[better, j], tc
    return pd.DataFrame({"building_id": u.buildings, "base_kwh_day": out[:, 0],
                         "weekend_kwh_day": out[:, 5],
                         "heat_slope": np.nan_to_num(out[:, 1]), "heat_balance": out[:, 2],
                         "cool_slope": np.nan_to_num(out[:, 3]), "cool_balance": out[:, 4],
                         "days": w.sum(axis=1).astype(int)})


def temperature_sensitivity(f: Fleet, fits: pd.DataFrame) -> list[dict]:
    t_day = f.daily_temperature
    rows = []
    for term, word in (("heat", "heating"), ("cool", "cooling")):
        slope = fits[f"{term}_slope"].to_numpy()
        balance = fits[f"{term}_balance"].to_numpy()
        per, size = f.per_size(slope)
        med, n, kind = f.peers(np.where(fits["days"] > 0, per, np.nan))
        for i in np.flatnonzero((per > f.cfg.temperature_slope_ratio * med) & (med > 0)
                                & np.isfinite(balance)):
            dd = (np.nansum(np.maximum(0.0, balance[i] - t_day[i])) if term == "heat" else
                  np.nansum(np.maximum(0.0, t_day[i] - balance[i])))
            excess = slope[i] - med[i] * size[i]
            kwh = excess * dd * f.annual
            if kwh <= 0:
                continue
            rows.append(_row(
                f, i, "temperature_sensitivity", f"{word.capitalize()} sensitivity out of "
                "family",
                f"{word} slope {slope[i]:.1f} kWh per day and K "
                f"{'below' if term == 'heat' else 'above'} {balance[i]:.0f} °C is "
                f"{per[i]:.2f} {_size_text(f, i)}, "
                f"{per[i] / med[i]:.1f}× the median of {_peer_text(n[i], kind[i])}; "
                f"{dd:.0f} degree days in the period",
                kwh, kwh * f.avg_price[i], kwh * f.avg_carbon[i], []))
    return rows


def load_factor(f: Fleet, base: np.ndarray) -> list[dict]:
    top = f.usage.top
    if top.empty:
        return []
    top, provisional = f.demand_months(top)
    provisional = provisional.reindex(f.usage.buildings).fillna("").to_numpy(dtype=object)
    peaks = top.groupby(["building_id", "month"]).first()["kw"]
    peak = peaks.groupby(level="building_id").max().reindex(f.usage.buildings).to_numpy()
    with np.errstate(all="ignore"):
        lf = f.mean_kw / peak
    med, n, kind = f.peers(lf)
    rows = []
    month_rate = f.tariff.demand_charge_per_kw(f.usage.hours_s).mean()
    for i in np.flatnonzero(lf < f.cfg.load_factor_ratio * med):
        target = f.mean_kw[i] / med[i]
        cut = peak[i] - target
        if cut <= 0:
            continue
        ratio = peak[i] / base[i] if base[i] > 0 else np.inf
        rows.append(_row(
            f, i, "load_factor", "Peaky load: low load factor",
            f"load factor {lf[i]:.2f} (average {f.mean_kw[i]:.0f} kW over a peak of "
            f"{peak[i]:.0f} kW) vs {med[i]:.2f} for {_peer_text(n[i], kind[i])}; peak to base "
            f"{ratio:.1f}×; at the peers' load factor the peak would be {target:.0f} kW",
            0.0, cut * month_rate * 12, 0.0, [], provisional[i]))
    return rows


def data_quality(f: Fleet, alerts: pd.DataFrame) -> tuple[list[dict], pd.DataFrame]:
    u = f.usage
    per_hour = HOUR / u.length_s
    has = u.windows > 0
    any_ = has.any(axis=1)
    first = np.where(any_, has.argmax(axis=1), 0)
    last = np.where(any_, has.shape[1] - 1 - has[:, ::-1].argmax(axis=1), -1)
    expected = (last - first + 1) * per_hour
    got = u.windows.sum(axis=1)
    missing = np.clip(expected - got, 0, None)
    with np.errstate(all="ignore"):
        per_window = np.nansum(u.energy, axis=1) / got
    a = alerts if alerts is not None else pd.DataFrame(columns=["building_id", "type", "value"])
    stuck = a[a["type"] == STUCK].groupby("building_id")["value"].agg(["size", "sum"])
    gaps = a[a["type"] == GAP].groupby("building_id").size()
    q = pd.DataFrame({"building_id": u.buildings, "windows": got.astype(int),
                      "missing": missing.astype(int)})
    with np.errstate(all="ignore"):
        q["missing_share"] = np.where(expected > 0, missing / expected, 0.0)
    q["stuck_alerts"] = stuck["size"].reindex(u.buildings).fillna(0).astype(int).to_numpy()
    q["stuck_minutes"] = stuck["sum"].astype("float64").reindex(u.buildings).fillna(
        0.0).to_numpy()
    q["gap_alerts"] = gaps.reindex(u.buildings).fillna(0).astype(int).to_numpy()
    q["local_time_mismatches"] = (u.local_time_mismatches if u.local_time_mismatches is not None
                                  else np.zeros(len(u.buildings), dtype="int64"))
    stuck_windows = q["stuck_minutes"].to_numpy() * 60 / u.length_s
    with np.errstate(all="ignore"):
        q["estimated_share"] = np.where(expected > 0, (missing + stuck_windows) / expected, 0.0)
    rows = []
    flagged = (q["estimated_share"] >= f.cfg.data_quality_share) | (q["stuck_alerts"] > 0) | (
        q["gap_alerts"] > 0)
    for i in np.flatnonzero(flagged.to_numpy()):
        r = q.iloc[i]
        est = (r["missing"] + stuck_windows[i]) * np.nan_to_num(per_window[i])
        rows.append(_row(
            f, i, "data_quality", "Meter data incomplete",
            f"{r['missing']} of {int(expected[i])} windows missing, {r['stuck_alerts']} "
            f"stuck-meter alert(s) ({r['stuck_minutes']:.0f} min at least), {r['gap_alerts']} "
            f"gap alert(s): {r['estimated_share']:.1%} of the period's energy "
            f"(about {est:.0f} kWh) would be billed on estimates",
            0.0, 0.0, 0.0, [], provisional=""))
    return rows, q


def recommend(usage: Usage, tariff: Tariff, cfg: RecommendConfig,
              meta: pd.DataFrame | None = None, alerts: pd.DataFrame | None = None,
              zones: np.ndarray | None = None) -> Findings:
    """Every rule over the usage; `meta`: building_id, type, floor_area_m2 (optional);
    `zones`: each building's IANA zone (default the tariff's)."""
    types = np.full(len(usage.buildings), "", dtype=object)
    area = np.full(len(usage.buildings), np.nan)
    if meta is not None and len(meta):
        m = meta.drop_duplicates("building_id").set_index("building_id").reindex(
            usage.buildings)
        types = m["type"].fillna("").astype(str).to_numpy(dtype=object)
        area = pd.to_numeric(m["floor_area_m2"], errors="coerce").to_numpy(dtype="float64")
    f = Fleet(usage, tariff, cfg, types, area, zones)
    rows, base = base_load(f)
    rows += after_hours(f, *schedule(f))
    rows += weekend(f)
    rows += peak_shaving(f)
    fits = change_point_fits(f)
    rows += temperature_sensitivity(f, fits)
    rows += load_factor(f, base)
    quality_rows, quality = data_quality(f, alerts)
    rows += quality_rows
    table = _one_demand_row(pd.DataFrame(rows, columns=list(RECOMMENDATION_COLUMNS)))
    keep = (table["category"] == "data") | (table["saving_cost"] >= cfg.min_annual_saving)
    table = table[keep].sort_values(["saving_cost", "saving_kwh", "building_id"],
                                    ascending=[False, False, True], ignore_index=True)
    return Findings(table, fits, quality)


def _one_demand_row(table: pd.DataFrame) -> pd.DataFrame:
    """Peak shaving and load factor price the same demand charge: per building, the larger
    stays, with the other's evidence (and its times) appended."""
    demand = table[table["category"] == "demand"].sort_values("saving_cost", ascending=False)
    if demand.empty:
        return table
    first = demand.drop_duplicates("building_id")
    rest = demand[~demand.index.isin(first.index)]
    also = rest.groupby("building_id")["evidence"].agg("; ".join)
    times = rest.groupby("building_id")["when"].agg(lambda w: [t for x in w for t in x])
    first = first.copy()
    extra = first["building_id"].map(also)
    first.loc[extra.notna(), "evidence"] = (first.loc[extra.notna(), "evidence"] + "; also: "
                                            + extra[extra.notna()])
    first["when"] = [w + times.get(b, []) for b, w in zip(first["building_id"], first["when"],
                                                          strict=True)]
    return pd.concat([table[table["category"] != "demand"], first], ignore_index=True)


def building_savings(table: pd.DataFrame, provisional: bool = False) -> pd.DataFrame:
    """Per building: kWh, cost and CO2e a year over its firm recommendations (provisional
    ones are listed apart, never summed, unless `provisional`), counting the larger of
    overlapping demand savings once."""
    cols = ["saving_kwh", "saving_cost", "saving_co2_kg"]
    if "provisional" in table and not provisional:
        table = table[table["provisional"] == ""]
    if table.empty:
        return pd.DataFrame({"building_id": pd.Series(dtype=object),
                             **{c: pd.Series(dtype="float64") for c in cols},
                             "recommendations": pd.Series(dtype="int64")})
    demand = table[table["category"] == "demand"].groupby("building_id")[cols].max()
    rest = table[table["category"] != "demand"].groupby("building_id")[cols].sum()
    out = rest.add(demand, fill_value=0.0) if len(demand) else rest
    out["recommendations"] = table[table["category"] != "data"].groupby("building_id").size()
    return out.fillna({"recommendations": 0}).reset_index().sort_values(
        "saving_cost", ascending=False, ignore_index=True)


def _line(y: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per row, the least-squares line of y on x over the cells where w, evaluated at every
    cell (the row's mean where x is missing or does not vary)."""
    w = w & np.isfinite(y) & np.isfinite(x)
    n = w.sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        my = np.where(w, y, 0.0).sum(axis=1, keepdims=True) / n
        mx = np.where(w, x, 0.0).sum(axis=1, keepdims=True) / n
        sxx = (np.where(w, x - mx, 0.0) ** 2).sum(axis=1, keepdims=True)
        sxy = np.where(w, (x - mx) * (y - my), 0.0).sum(axis=1, keepdims=True)
        slope = np.where((sxx > 1e-9) & (n >= 10), sxy / sxx, 0.0)
    return np.nan_to_num(my) + slope * np.where(np.isfinite(x), x - mx, 0.0)


def _interval(start_s: int, length_s: int) -> str:
    """An ISO 8601 interval in UTC: `2026-06-07T02:00:00Z/2026-06-07T06:00:00Z`."""
    a = pd.Timestamp(int(start_s), unit="s")
    return f"{a:%Y-%m-%dT%H:%M:%SZ}/{a + pd.Timedelta(seconds=int(length_s)):%Y-%m-%dT%H:%M:%SZ}"


def _masked_mean(values: np.ndarray, mask: np.ndarray, weights: np.ndarray) -> float:
    w = np.where(mask, weights, 0.0)
    return float((values * w).sum() / w.sum()) if w.sum() > 0 else float(values.mean())


@contextlib.contextmanager
def _quiet():
    """Silence numpy's all-NaN slice warnings: an all-NaN row is an answer (NaN) here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield
