"""What the energy report says, as tables: per building energy, cost, CO2e, peak demand and load
factor over the period; the bills behind the cost; the ranked recommendations; the alerts;
data quality. `page.render` turns it into one HTML file.

The period's cost is its energy cost plus the demand and fixed charges of the billing months
it touches, each prorated by the share of its billing month the period covers (a report of
half a month carries half of that month's demand charge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import episodes
from ..alert_types import TYPES
from ..config import Config
from ..localtime import Calendar, named_days_off
from ..tariff import Tariff
from . import rules
from .usage import Usage

SUMMARY_COLUMNS = ("building_id", "type", "floor_area_m2", "energy_kwh", "energy_cost",
                   "demand_charge", "fixed_charge", "total_cost", "co2_kg", "peak_kw",
                   "peak_at", "load_factor", "saving_kwh", "saving_cost", "saving_co2_kg",
                   "recommendations", "alerts", "episodes")


@dataclass
class Report:
    since: pd.Timestamp          # naive UTC, inclusive
    until: pd.Timestamp          # naive UTC, exclusive
    cfg: Config
    tariff: Tariff
    summary: pd.DataFrame        # SUMMARY_COLUMNS, highest total_cost first
    bills: pd.DataFrame          # billing.BILL_COLUMNS plus `coverage` (share in the period)
    findings: rules.Findings
    alerts: pd.DataFrame         # building_id, type, event_time, window_start, window_end,
    #                              value (in the period): one per alert and window
    episodes: pd.DataFrame       # episodes.COLUMNS: back-to-back windows' alerts as one
    usage: Usage
    pages: list[str]             # buildings that get a page, most to save first
    days_off: pd.DataFrame = field(default_factory=lambda: days_off_table([], None, None, None))
    # ^ DAYS_OFF_COLUMNS: the holidays and closure days in the period, with their buildings
    temperature_days: dict[str, pd.DataFrame] = field(default_factory=dict)
    # ^ per page's building, its days against temperature (`rules.temperature_days`)
    zones: np.ndarray | None = None
    # ^ (B,) each building's IANA zone (`calendar`), its local time in the rules and plots

    def zone(self, i: int) -> str:
        """Building `i`'s zone (the tariff's when the report has none)."""
        return str(self.zones[i]) if self.zones is not None else self.cfg.tariff.timezone

    @property
    def currency(self) -> str:
        return self.cfg.tariff.currency

    def totals(self) -> dict[str, float]:
        s = self.summary
        return {c: float(s[c].sum()) for c in ("energy_kwh", "energy_cost", "demand_charge",
                                               "fixed_charge", "total_cost", "co2_kg",
                                               "saving_kwh", "saving_cost", "saving_co2_kg")}


def read_metadata(path: str) -> pd.DataFrame | None:
    """building_id, type, floor_area_m2 from a CSV (extra columns ignored); None: no file."""
    from ..errors import WattstreamError

    if not path:
        return None
    try:
        meta = pd.read_csv(path, dtype={"building_id": str, "type": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise WattstreamError(f"report.buildings_file: cannot read {path}: {exc}") from None
    missing = {"building_id", "type", "floor_area_m2"} - set(meta.columns)
    if missing:
        raise WattstreamError(f"report.buildings_file: {path} lacks column(s) "
                              f"{', '.join(sorted(missing))}")
    return meta[["building_id", "type", "floor_area_m2"]]


def build(usage: Usage, cfg: Config, since: pd.Timestamp, until: pd.Timestamp,
          meta: pd.DataFrame | None = None, alerts: pd.DataFrame | None = None,
          pages: list[str] | None = None) -> Report:
    """The report of `usage` (the period [since, until)); `pages`: the buildings that get a
    page (default: the `report.building_pages` with the most to save)."""
    tariff = Tariff(cfg.tariff)
    alerts = _in_period(alerts, since, until)
    zones = Calendar(cfg).names(usage.buildings)
    findings = rules.recommend(usage, tariff, cfg.recommend, meta, alerts, zones)
    bills = usage.bills(tariff)
    period_s = (bills["period_end"] - bills["period_start"]).dt.total_seconds()
    inside = (bills["period_end"].clip(upper=until) - bills["period_start"].clip(lower=since)
              ).dt.total_seconds().clip(lower=0)
    bills["coverage"] = (inside / period_s).to_numpy()
    charged = bills.assign(demand_charge=bills["demand_charge"] * bills["coverage"],
                           fixed_charge=bills["fixed_charge"] * bills["coverage"])
    per = charged.groupby("building_id").agg(
        energy_kwh=("energy_kwh", "sum"), energy_cost=("energy_cost", "sum"),
        demand_charge=("demand_charge", "sum"), fixed_charge=("fixed_charge", "sum"),
        co2_kg=("co2_kg", "sum"), peak_kw=("peak_kw", "max"))
    peak_at = bills.sort_values("peak_kw", ascending=False).drop_duplicates("building_id")
    per["peak_at"] = peak_at.set_index("building_id")["peak_at"]
    per["total_cost"] = per["energy_cost"] + per["demand_charge"] + per["fixed_charge"]
    hours = np.where(usage.windows > 0, usage.windows * usage.length_s / 3600, 0).sum(axis=1)
    mean_kw = pd.Series(np.nansum(usage.energy, axis=1) / np.where(hours > 0, hours, np.nan),
                        index=usage.buildings)
    per["load_factor"] = mean_kw.reindex(per.index) / per["peak_kw"].replace(0, np.nan)
    saving = rules.building_savings(findings.table).set_index("building_id")
    for c in ("saving_kwh", "saving_cost", "saving_co2_kg", "recommendations"):
        per[c] = saving[c].reindex(per.index).fillna(0.0) if c in saving else 0.0
    per["recommendations"] = per["recommendations"].astype(int)
    per["alerts"] = alerts.groupby("building_id").size().reindex(per.index).fillna(0).astype(
        int)
    spells = episodes.frame(alerts, cfg.windows.length_seconds)
    per["episodes"] = spells.groupby("building_id").size().reindex(per.index).fillna(0).astype(
        int)
    if meta is not None:
        m = meta.drop_duplicates("building_id").set_index("building_id")
        per["type"] = m["type"].reindex(per.index).fillna("")
        per["floor_area_m2"] = pd.to_numeric(m["floor_area_m2"], errors="coerce").reindex(
            per.index)
    else:
        per["type"], per["floor_area_m2"] = "", np.nan
    summary = per.reset_index()[list(SUMMARY_COLUMNS)].sort_values(
        ["total_cost", "building_id"], ascending=[False, True], ignore_index=True)
    if pages is None:
        # The pages go to the buildings with the most to look at, provisional findings too.
        worth = rules.building_savings(findings.table, provisional=True).set_index(
            "building_id")["saving_cost"] if len(findings.table) else pd.Series(dtype=float)
        ranked = summary.assign(_worth=summary["building_id"].map(worth).fillna(0.0)
                                ).sort_values(["_worth", "total_cost"], ascending=False)
        pages = ranked["building_id"].head(cfg.report.building_pages).tolist()
    days = {b: rules.temperature_days(usage, tariff, cfg.recommend, usage.index(b),
                                      zones[usage.index(b)]) for b in pages}
    return Report(since, until, cfg, tariff, summary, bills, findings, alerts, spells, usage,
                  pages, days_off_table(list(usage.buildings), cfg, since, until), days,
                  zones)


DAYS_OFF_COLUMNS = ("date", "name", "holidays", "buildings")


def days_off_table(buildings: list[str], cfg: Config | None, since: pd.Timestamp | None,
                   until: pd.Timestamp | None) -> pd.DataFrame:
    """Which days of [since, until) the baselines took as days off (`localtime`), for how
    many of the buildings: one row per date, name and holiday calendar."""
    rows = []
    if cfg is not None and buildings:
        cal = Calendar(cfg)
        groups: dict[tuple[str, str], int] = {}
        for b in buildings:
            _, hol, clo = cal.key(b)
            if hol or clo:
                groups[(hol, clo)] = groups.get((hol, clo), 0) + 1
        first = since.date()
        last = (until - pd.Timedelta(seconds=1)).date()
        for (hol, clo), n in groups.items():
            for d, name in named_days_off(hol, clo, first, last):
                rows.append((d.isoformat(), name, hol, n))
    out = pd.DataFrame(rows, columns=list(DAYS_OFF_COLUMNS))
    return out.groupby(["date", "name", "holidays"], as_index=False)["buildings"].sum() \
        if len(out) else out


def _in_period(alerts: pd.DataFrame | None, since: pd.Timestamp, until: pd.Timestamp
               ) -> pd.DataFrame:
    cols = ["building_id", "type", "event_time", "window_start", "window_end", "value"]
    if alerts is None or alerts.empty:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in (
            "event_time", "window_start", "window_end") else object) for c in cols})
    a = alerts.copy()
    for c in cols:
        if c not in a:
            a[c] = np.nan
    t = pd.to_datetime(a["event_time"])
    a = a[(t >= since) & (t < until) & a["type"].isin(TYPES)]
    return a[cols].reset_index(drop=True)


def to_json(r: Report, **extra) -> str:
    """The report's tables as JSON (timestamps ISO 8601 UTC)."""
    import json

    def records(df: pd.DataFrame) -> list[dict]:
        return json.loads(df.to_json(orient="records", date_format="iso"))

    return json.dumps({"since": r.since.isoformat(), "until": r.until.isoformat(),
                       "currency": r.currency, "buildings": len(r.summary), **extra,
                       "totals": r.totals(), "summary": records(r.summary),
                       "recommendations": records(r.findings.table),
                       "quality": records(r.findings.quality),
                       "days_off": records(r.days_off),
                       "episodes": records(r.episodes)}, indent=1)
