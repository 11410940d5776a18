"""Each recommendation rule on a constructed fleet: 28 days from Monday 2026-06-01 (UTC), six
peers that behave and one building that does not, with the saving worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattstream.alert_types import GAP, STUCK
from wattstream.analytics import rules, usage
from wattstream.config import Config
from wattstream.tariff import Tariff

START = pd.Timestamp("2026-06-01")
DAYS = 30  # June whole: findings rest on a complete billing month
H = DAYS * 24
HOURS = pd.date_range(START, periods=H, freq="h")
OPEN = (HOURS.dayofweek < 5) & (HOURS.hour >= 8) & (HOURS.hour < 18)
CFG = Config()
TARIFF = Tariff(CFG.tariff)  # flat 0.12 per kWh, 0.35 kg per kWh, 15 per kW
ANNUAL = 365 / DAYS
PEERS = [f"p{i}" for i in range(6)]


def office(noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Hourly kW of a 1000 m² office: 10 kW closed, 50 kW open."""
    rng = np.random.default_rng(seed)
    return np.where(OPEN, 50.0, 10.0) + noise * rng.standard_normal(H)


def fleet(loads: dict[str, np.ndarray], temperature: np.ndarray | None = None,
          occupancy: bool = True, drop: dict[str, np.ndarray] | None = None,
          days: int = DAYS) -> usage.Usage:
    """Windows of 5 minutes holding each hour's kW, through `usage.from_windows`."""
    frames = []
    for b, kw in loads.items():
        ws = pd.date_range(START, periods=H * 12, freq="5min")
        f = pd.DataFrame({"building_id": b, "window_start": ws,
                          "energy_kwh": np.repeat(kw, 12) / 12,
                          "avg_temperature": np.repeat(temperature if temperature is not None
                                                       else np.full(H, 15.0), 12),
                          "avg_occupancy": np.repeat(np.where(OPEN, 100.0, 0.0), 12)
                          if occupancy else np.nan})
        if drop and b in drop:
            f = f[~drop[b]]
        frames.append(f)
    return usage.from_windows(pd.concat(frames, ignore_index=True), 300, TARIFF,
                              since=START, until=START + pd.Timedelta(days=days))


def run(u: usage.Usage, meta=True, alerts=None, **cfg) -> rules.Findings:
    m = pd.DataFrame({"building_id": u.buildings, "type": "office",
                      "floor_area_m2": 1000.0}) if meta else None
    return rules.recommend(u, TARIFF, CFG.replace(recommend=cfg).recommend if cfg
                           else CFG.recommend, m, alerts)


def only(found: rules.Findings, rule: str) -> pd.DataFrame:
    return found.table[found.table["rule"] == rule]


def test_a_high_night_load_for_its_peers_is_found_and_priced():
    loads = {b: office() for b in PEERS}
    loads["x"] = office() + 20.0  # 20 kW more around the clock
    hit = only(run(fleet(loads)), "base_load")
    assert hit["building_id"].tolist() == ["x"]
    r = hit.iloc[0]
    assert r["saving_kwh"] == pytest.approx(20 * 8760)
    assert r["saving_cost"] == pytest.approx(20 * 8760 * 0.12)
    assert r["saving_co2_kg"] == pytest.approx(20 * 8760 * 0.35)
    assert "3.0× the median of 6 office peers" in r["evidence"]


def test_without_floor_areas_the_base_load_is_compared_per_kw_of_average_load():
    loads = {b: office() for b in PEERS}
    loads["x"] = office() + 20.0
    hit = only(run(fleet(loads), meta=False), "base_load")
    assert hit["building_id"].tolist() == ["x"]
    assert "per kW of average load" in hit.iloc[0]["evidence"]
    assert "6 buildings of the fleet" in hit.iloc[0]["evidence"]


def test_hvac_left_on_overnight_is_a_run_outside_the_schedule():
    loads = {b: office(1.0, seed=i) for i, b in enumerate(PEERS)}
    x = office(1.0, seed=9)
    night = (HOURS >= "2026-06-09 20:00") & (HOURS < "2026-06-10 04:00")  # Tue night, 8 h
    x[night] += 30.0
    found = run(fleet({**loads, "x": x},
                      temperature=15 + np.sin(np.arange(H) / 24 * 2 * np.pi) * 5))
    hit = only(found, "after_hours")
    assert hit["building_id"].tolist() == ["x"]
    r = hit.iloc[0]
    assert r["when"] == ["2026-06-09T20:00:00Z/2026-06-10T04:00:00Z"]
    assert "overnight or weekend" in r["evidence"]
    assert r["saving_kwh"] == pytest.approx(8 * 30 * ANNUAL, rel=0.05)


def test_an_early_start_is_told_apart():
    loads = {b: office() for b in PEERS}
    x = office()
    early = (HOURS.dayofweek == 2) & (HOURS.hour >= 5) & (HOURS.hour < 8) & (HOURS.day > 20)
    x[early] = 50.0  # the last Wednesdays start at 05:00
    hit = only(run(fleet({**loads, "x": x})), "after_hours")
    assert hit["building_id"].tolist() == ["x"]
    assert "early start" in hit.iloc[0]["evidence"]
    assert len(hit.iloc[0]["when"]) == 1  # Wednesday 24th (the 17th is before day 20)


def test_the_schedule_comes_from_the_load_without_occupancy_readings():
    loads = {b: office() for b in PEERS}
    x = office()
    x[(HOURS >= "2026-06-13 00:00") & (HOURS < "2026-06-14 00:00")] = 40.0  # a Saturday on
    hit = only(run(fleet({**loads, "x": x}, occupancy=False)), "after_hours")
    assert hit["building_id"].tolist() == ["x"]
    assert hit.iloc[0]["when"] == ["2026-06-13T00:00:00Z/2026-06-14T00:00:00Z"]


def test_weekends_like_weekdays_against_peers():
    loads = {b: office() for b in PEERS}
    x = np.where((HOURS.hour >= 8) & (HOURS.hour < 18), 50.0, 10.0)  # open every day
    hit = only(run(fleet({**loads, "x": x})), "weekend")
    assert hit["building_id"].tolist() == ["x"]
    weekday = 10 * 50 + 14 * 10
    peer_ratio = 240 / weekday
    assert hit.iloc[0]["saving_kwh"] == pytest.approx(
        (1 - peer_ratio) * weekday * 365 * 2 / 7)


def test_a_spike_that_sets_the_month_peak_is_worth_shaving():
    loads = {b: office() for b in PEERS}
    x = office()
    x[HOURS == "2026-06-10 14:00"] = 150.0
    hit = only(run(fleet({**loads, "x": x})), "peak_shaving")
    assert hit["building_id"].tolist() == ["x"]
    r = hit.iloc[0]
    # Every 15-minute interval of that hour is at 150 kW; the cap is the 9th highest: 50 kW.
    assert r["saving_cost"] == pytest.approx((150 - 50) * 15.0 * 12)
    assert r["when"][0] == "2026-06-10T14:00:00Z/2026-06-10T14:15:00Z"
    assert r["saving_kwh"] == 0


def test_the_change_point_fit_recovers_the_slopes_and_flags_an_outlier():
    temp = np.repeat(np.linspace(10, 30, DAYS), 24)
    cooling = np.maximum(0, temp - 18)

    def cooled(slope_per_day: float) -> np.ndarray:
        return office() + slope_per_day * cooling / 24

    loads = {b: cooled(100.0) for b in PEERS}
    loads["x"] = cooled(400.0)
    found = run(fleet(loads, temperature=temp))
    fit = found.fits.set_index("building_id")
    assert fit.loc["p0", "cool_slope"] == pytest.approx(100.0, rel=0.02)
    assert fit.loc["x", "cool_slope"] == pytest.approx(400.0, rel=0.02)
    assert fit.loc["x", "cool_balance"] == pytest.approx(18.0, abs=1.0)
    assert fit.loc["x", "heat_slope"] == 0
    hit = only(found, "temperature_sensitivity")
    assert hit["building_id"].tolist() == ["x"]
    degree_days = cooling[::24].sum()
    assert hit.iloc[0]["saving_kwh"] == pytest.approx(300 * degree_days * ANNUAL, rel=0.05)


def test_a_low_load_factor_against_peers():
    loads = {b: office() for b in PEERS}
    x = np.where(OPEN, 50.0, 10.0)
    x[(HOURS.hour == 12) & (HOURS.dayofweek < 5)] = 200.0  # a daily noon peak
    found = run(fleet({**loads, "x": x}))
    hit = only(found, "load_factor")
    assert hit["building_id"].tolist() == ["x"]
    assert "peak to base 20.0×" in hit.iloc[0]["evidence"]
    # Demand savings overlap: a building's total counts the larger once.
    demand = found.table[(found.table["building_id"] == "x")
                         & (found.table["category"] == "demand")]["saving_cost"]
    per = rules.building_savings(found.table).set_index("building_id")
    other = found.table[(found.table["building_id"] == "x")
                        & (found.table["category"] != "demand")]["saving_cost"].sum()
    assert per.loc["x", "saving_cost"] == pytest.approx(demand.max() + other)


def test_missing_windows_and_stuck_meters_are_the_share_billed_on_estimates():
    loads = {b: office() for b in PEERS}
    gone = np.zeros(H * 12, dtype=bool)
    gone[1000:1000 + 24 * 12] = True  # a day of windows missing
    alerts = pd.DataFrame({"building_id": ["p1", "p1"], "type": [STUCK, GAP],
                           "value": [120.0, 86_400.0]})
    found = run(fleet(loads, drop={"p0": gone}), alerts=alerts)
    q = found.quality.set_index("building_id")
    assert q.loc["p0", "missing"] == 288
    assert q.loc["p0", "estimated_share"] == pytest.approx(1 / DAYS)
    assert q.loc["p1", "estimated_share"] == pytest.approx(24 / (DAYS * 288))  # 120 min
    assert (q.loc["p1", "stuck_alerts"], q.loc["p1", "gap_alerts"]) == (1, 1)
    hit = only(found, "data_quality")
    assert sorted(hit["building_id"]) == ["p0", "p1"]
    assert (hit["saving_cost"] == 0).all()


def test_a_quiet_fleet_gets_no_recommendation_and_the_ranking_is_by_money():
    quiet = run(fleet({b: office(0.5, seed=i) for i, b in enumerate(PEERS)}))
    assert quiet.table[quiet.table["category"] != "data"].empty
    loads = {b: office() for b in PEERS}
    loads["x"] = office() + 20.0
    loads["y"] = office() + 5.0
    loads["y"][HOURS == "2026-06-10 14:00"] = 150.0
    table = run(fleet(loads)).table
    assert table["saving_cost"].is_monotonic_decreasing
    assert set(table["rule"]) >= {"base_load", "peak_shaving"}


def test_bills_from_usage_equal_bills_from_the_windows():
    from wattstream import billing

    loads = {b: office(1.0, seed=i) for i, b in enumerate(PEERS[:2])}
    t = Tariff(Config().replace(tariff={"periods": {"peak": {
        "price_per_kwh": 0.3, "days": "mon-fri", "hours": "12-18"}}}).tariff)
    frames = [pd.DataFrame({"building_id": b, "window_start": pd.date_range(
        START, periods=H * 12, freq="5min"), "energy_kwh": np.repeat(kw, 12) / 12})
        for b, kw in loads.items()]
    windows = pd.concat(frames, ignore_index=True)
    direct = billing.bills(windows, t, 300)
    via = usage.from_windows(windows, 300, t).bills(t)
    cols = ["energy_kwh", "energy_cost", "co2_kg", "peak_kw", "demand_charge", "total"]
    assert np.allclose(direct[cols].to_numpy(dtype=float), via[cols].to_numpy(dtype=float))


def test_complete_billing_months_are_those_the_period_holds_whole():
    june = pd.date_range("2026-06-01", "2026-06-30 23:00", freq="h", tz="UTC")
    s = (june.asi8 // 10**9).astype("int64")
    june_m = (2026 - 1970) * 12 + 5
    assert rules.complete_months(s, 1, "UTC") == {june_m}
    assert rules.complete_months(s[1:], 1, "UTC") == set()      # starts an hour late
    assert rules.complete_months(s[:-1], 1, "UTC") == set()     # ends an hour early
    # Billing from the 15th: June's hours hold no whole period.
    assert rules.complete_months(s, 15, "UTC") == set()
    # In New York June starts four hours later than in UTC: not whole either.
    assert rules.complete_months(s, 1, "America/New_York") == set()
    assert rules.complete_months(s[:0], 1, "UTC") == set()


def test_findings_without_a_complete_billing_month_are_provisional_and_not_summed():
    loads = {b: office() for b in PEERS}
    loads["x"] = office() + 20.0
    x = np.where(OPEN, 50.0, 10.0)
    x[(HOURS.hour == 12) & (HOURS.dayofweek < 5)] = 200.0
    loads["y"] = x
    late = np.zeros(H * 12, dtype=bool)
    late[21 * 288:] = True
    # Three weeks of June: less than a month of data, and no whole billing month.
    short = run(fleet(loads, drop=dict.fromkeys(loads, late), days=21))
    hits = short.table[short.table["category"] != "data"]
    assert "base_load" in set(hits["rule"]) and "demand" in set(hits["category"])
    energy, demand = hits[hits["category"] != "demand"], hits[hits["category"] == "demand"]
    assert energy["provisional"].str.contains("annualised from only 21 days").all()
    assert demand["provisional"].str.contains("no complete billing month").all()
    assert rules.building_savings(short.table).empty
    # 28 days: a month of data for the energy rules, still no whole month for the demand ones.
    month = run(fleet(loads, drop=dict.fromkeys(loads, late), days=28)).table
    month = month[month["category"] != "data"]
    assert (month.loc[month["category"] != "demand", "provisional"] == "").all()
    assert (month.loc[month["category"] == "demand", "provisional"] != "").all()
    # The same buildings over the whole of June: firm, and summed.
    whole = run(fleet(loads))
    firm = whole.table[whole.table["category"] != "data"]
    assert (firm["provisional"] == "").all()
    assert set(rules.building_savings(whole.table)["building_id"]) == {"x", "y"}


def test_each_building_is_read_on_its_own_clock():
    """Local hours and local days follow each building's zone: the fleet's day axis holds
    every zone's dates, and each building's days add up to its own hours."""
    u = fleet({"utc": office(), "tokyo": office()})
    f = rules.Fleet(u, TARIFF, CFG.recommend, np.array(["", ""], dtype=object),
                    np.array([np.nan, np.nan]), np.array(["UTC", "Asia/Tokyo"], dtype=object))
    assert ((f.hod[0] + 9) % 24 == f.hod[1]).all()
    assert (f.day_len.sum(axis=1) == H).all()
    assert len(f.day_label) == DAYS + 1  # Tokyo's last local date reaches past UTC's
    daily = f.daily(u.energy)
    np.testing.assert_allclose(daily.sum(axis=1), np.nansum(u.energy, axis=1))
    # Tokyo's first local day starts at 09:00: it is not a complete day, UTC's is.
    assert f.complete_days[0, 0] and not f.complete_days[1, 0]


def test_a_run_left_on_is_told_in_the_buildings_local_time():
    ny = HOURS.tz_localize("UTC").tz_convert("America/New_York")
    open_ny = (ny.dayofweek < 5) & (ny.hour >= 8) & (ny.hour < 18)
    loads = {b: np.where(open_ny, 50.0, 10.0) + np.random.default_rng(i).standard_normal(H)
             for i, b in enumerate(PEERS)}
    x = np.where(open_ny, 50.0, 10.0) + np.random.default_rng(9).standard_normal(H)
    night = ((ny >= pd.Timestamp("2026-06-09 20:00", tz="America/New_York"))
             & (ny < pd.Timestamp("2026-06-10 04:00", tz="America/New_York")))
    x[night] += 30.0
    u = fleet({**loads, "x": x}, temperature=15 + np.sin(np.arange(H) / 24 * 2 * np.pi) * 5)
    meta = pd.DataFrame({"building_id": u.buildings, "type": "office", "floor_area_m2": 1000.0})
    zones = np.full(len(u.buildings), "America/New_York", dtype=object)
    hit = only(rules.recommend(u, TARIFF, CFG.recommend, meta, zones=zones), "after_hours")
    assert hit["building_id"].tolist() == ["x"]
    assert "Tue 2026-06-09 20:00 for 8 h" in hit.iloc[0]["evidence"]
    assert hit.iloc[0]["when"] == ["2026-06-10T00:00:00Z/2026-06-10T08:00:00Z"]
