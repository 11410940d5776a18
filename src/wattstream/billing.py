"""Billing periods, demand intervals and bills, as the utility counts them (`tariff` config):
shared by the job's peak warnings and the batch analytics (scores, the report).

A bill per building and billing period: energy priced per window by the time-of-use period and
tariff version at its start; demand charge on the billed demand, the highest average kW over
one `demand_interval_minutes` interval, raised by the ratchet to `ratchet_share` of the highest
peak of the previous `ratchet_months` periods; a fixed charge. When a tariff version starts
inside a period, its demand and fixed charges are prorated by the share of the period each
version covers (how utilities bill a rate change mid-cycle); the ratchet's terms are those in
effect at the period's end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .tariff import Tariff


def billing_month(ts_s: np.ndarray, billing_day: int, zone: str = "UTC") -> np.ndarray:
    """The billing period of each instant (epoch seconds) as months since 1970-01: a period
    starts at 00:00 on `billing_day` in `zone`."""
    t = pd.to_datetime(np.asarray(ts_s, dtype="int64"), unit="s", utc=True)
    if zone != "UTC":
        t = t.tz_convert(zone)
    months = (t.year - 1970) * 12 + t.month - 1
    return np.where(t.day < billing_day, months - 1, months).astype("int64")


def period_start_s(month: np.ndarray, billing_day: int, zone: str = "UTC") -> np.ndarray:
    """Epoch seconds at which billing period `month` (months since 1970-01) starts."""
    m = np.asarray(month, dtype="int64")
    local = pd.to_datetime({"year": 1970 + m // 12, "month": m % 12 + 1,
                            "day": np.full(len(m), billing_day)})
    t = pd.DatetimeIndex(local).tz_localize(zone).tz_convert("UTC")
    return ((t - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype="int64")


def window_seconds(windows: pd.DataFrame) -> np.ndarray:
    """Window starts (naive UTC `window_start`) as epoch seconds."""
    ws = pd.to_datetime(windows["window_start"]).to_numpy(dtype="datetime64[s]")
    return ws.astype("int64")


def interval_demand(windows: pd.DataFrame, interval_s: int, length_s: int,
                    complete: bool = True) -> pd.DataFrame:
    """Average kW per building and demand interval from closed windows (`building_id`,
    `window_start` naive UTC, `energy_kwh`); with `complete`, only intervals whose every
    window is there."""
    iv = window_seconds(windows) // interval_s * interval_s
    g = pd.DataFrame({"building_id": windows["building_id"].to_numpy(), "iv": iv,
                      "energy_kwh": windows["energy_kwh"].to_numpy()}).groupby(
        ["building_id", "iv"], sort=False)["energy_kwh"].agg(["sum", "size"]).reset_index()
    if complete:
        g = g[g["size"] == interval_s // length_s]
    return pd.DataFrame({"building_id": g["building_id"].to_numpy(),
                         "iv": g["iv"].to_numpy(dtype="int64"),
                         "kw": g["sum"].to_numpy() / (interval_s / 3600)})


BILL_COLUMNS = ("building_id", "period_start", "period_end", "energy_kwh", "energy_cost",
                "co2_kg", "peak_kw", "peak_at", "ratchet_kw", "billed_kw", "demand_charge",
                "fixed_charge", "total")


def bills(windows: pd.DataFrame, tariff: Tariff, length_s: int) -> pd.DataFrame:
    """One bill per building and billing period touched by the windows (`building_id`,
    `window_start`, `energy_kwh`), BILL_COLUMNS; `period_start`/`period_end` naive UTC, the
    ratchet over the periods present. Partial periods are billed as far as the windows go,
    with the whole period's fixed charge."""
    cfg = tariff.cfg
    if windows.empty:
        return pd.DataFrame(columns=list(BILL_COLUMNS))
    ws = window_seconds(windows)
    energy = windows["energy_kwh"].to_numpy(dtype="float64")
    cost, co2 = tariff.window_cost(ws, energy)
    month = billing_month(ws, cfg.billing_day, cfg.timezone)
    sums = pd.DataFrame({"building_id": windows["building_id"].to_numpy(), "month": month,
                         "energy_kwh": energy, "energy_cost": cost, "co2_kg": co2}).groupby(
        ["building_id", "month"], sort=True).sum().reset_index()
    demand = interval_demand(windows, tariff.interval_s, length_s, complete=False)
    demand["month"] = billing_month(demand["iv"].to_numpy(), cfg.billing_day, cfg.timezone)
    return bill_table(sums, monthly_peaks(demand), tariff)


def monthly_peaks(demand: pd.DataFrame) -> pd.DataFrame:
    """The highest interval of each building and billing month (`building_id`, `month`, `iv`,
    `kw`; the earliest on a tie) as `peak_kw`, `peak_at` (epoch seconds)."""
    top = demand.sort_values(["building_id", "month", "kw", "iv"],
                             ascending=[True, True, False, True]).drop_duplicates(
        ["building_id", "month"])
    return pd.DataFrame({"building_id": top["building_id"].to_numpy(),
                         "month": top["month"].to_numpy(dtype="int64"),
                         "peak_kw": top["kw"].to_numpy(dtype="float64"),
                         "peak_at": top["iv"].to_numpy(dtype="int64")})


def bill_table(sums: pd.DataFrame, peaks: pd.DataFrame, tariff: Tariff) -> pd.DataFrame:
    """Bills from each building's and billing month's energy, cost and emissions (`sums`:
    `building_id`, `month`, `energy_kwh`, `energy_cost`, `co2_kg`) and its peak demand
    (`monthly_peaks`)."""
    cfg = tariff.cfg
    out = sums.merge(peaks, on=["building_id", "month"], how="left").sort_values(
        ["building_id", "month"], ignore_index=True)
    if out.empty:
        return pd.DataFrame(columns=list(BILL_COLUMNS))
    out["peak_kw"] = out["peak_kw"].fillna(0.0)
    months = np.unique(out["month"].to_numpy())
    starts = period_start_s(months, cfg.billing_day, cfg.timezone)
    ends = period_start_s(months + 1, cfg.billing_day, cfg.timezone)
    terms = _period_terms(tariff, starts, ends)
    at = np.searchsorted(months, out["month"].to_numpy())
    out["ratchet_kw"] = _ratchet(out, terms["ratchet_share"][at], terms["ratchet_months"][at])
    out["billed_kw"] = np.fmax(out["peak_kw"].to_numpy(), out["ratchet_kw"].to_numpy())
    out["demand_charge"] = out["billed_kw"].to_numpy() * terms["demand_rate"][at]
    out["fixed_charge"] = terms["fixed"][at]
    out["total"] = out["energy_cost"] + out["demand_charge"] + out["fixed_charge"]
    out["period_start"] = pd.to_datetime(starts[at], unit="s")
    out["period_end"] = pd.to_datetime(ends[at], unit="s")
    out["peak_at"] = pd.to_datetime(out["peak_at"], unit="s")
    return out[list(BILL_COLUMNS)]


def _period_terms(tariff: Tariff, starts: np.ndarray, ends: np.ndarray) -> dict[str, np.ndarray]:
    """Per period: demand rate and fixed charge prorated over the versions in effect, and the
    ratchet terms of the version at its end."""
    vs = tariff.versions
    lo = np.maximum(tariff.starts[None, :], starts[:, None])
    hi = np.minimum(np.r_[tariff.starts[1:], np.iinfo("int64").max][None, :], ends[:, None])
    share = np.clip(hi - lo, 0, None) / (ends - starts)[:, None]
    last = tariff.version_of(ends - 1)
    return {"demand_rate": share @ np.array([v.demand_charge_per_kw for v in vs]),
            "fixed": share @ np.array([v.fixed_charge_per_month for v in vs]),
            "ratchet_share": np.array([vs[i].ratchet_share for i in last]),
            "ratchet_months": np.array([vs[i].ratchet_months for i in last])}


def _ratchet(bills: pd.DataFrame, share: np.ndarray, months: np.ndarray) -> np.ndarray:
    """share × the highest peak of the building's previous `months` periods (0 without)."""
    out = np.zeros(len(bills))
    if not (share > 0).any():
        return out
    b = bills["building_id"].to_numpy()
    m = bills["month"].to_numpy(dtype="int64")
    kw = bills["peak_kw"].to_numpy(dtype="float64")
    for k in range(1, int(months.max()) + 1):
        prev = pd.Series(kw, index=pd.MultiIndex.from_arrays([b, m]))
        got = prev.reindex(pd.MultiIndex.from_arrays([b, m - k])).to_numpy()
        got = np.where(k <= months, got, np.nan)
        out = np.fmax(out, np.nan_to_num(got) * share)
    return out
