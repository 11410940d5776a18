"""The tariff and bills against hand-computed ones: time-of-use periods, a version change in
the middle of a billing month, a ratchet, carbon intensity as a constant and as profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattstream import billing
from wattstream.config import Config, ConfigError
from wattstream.tariff import Tariff

SUMMER_PEAK = {"price_per_kwh": 0.30, "days": "mon-fri", "hours": "12-18", "months": "6-9"}


def tariff(**changes) -> Tariff:
    base = {"energy_price_per_kwh": 0.10, "periods": {"on_peak": SUMMER_PEAK},
            "demand_charge_per_kw": 15.0, "fixed_charge_per_month": 30.0,
            "carbon_kg_per_kwh": 0.4}
    return Tariff(Config().replace(tariff={**base, **changes}).tariff)


def month_of_windows(start: str, end: str, kwh: float = 1.0, spikes=()) -> pd.DataFrame:
    """5-minute windows of one building at `kwh` each; spikes: (start, minutes, kwh)."""
    ws = pd.date_range(start, end, freq="5min", inclusive="left")
    energy = np.full(len(ws), kwh)
    for at, minutes, value in spikes:
        energy[(ws >= pd.Timestamp(at)) & (ws < pd.Timestamp(at) + pd.Timedelta(
            minutes=minutes))] = value
    return pd.DataFrame({"building_id": "b", "window_start": ws, "energy_kwh": energy})


def test_a_month_with_a_change_in_the_middle_bills_as_by_hand():
    # June 2026 starts on a Monday: 22 weekdays, 11 before the change on the 16th, 11 after.
    t = tariff(changes={"2026-06-16": {
        "periods": {"on_peak": {**SUMMER_PEAK, "price_per_kwh": 0.40}},
        "demand_charge_per_kw": 20.0, "fixed_charge_per_month": 45.0}})
    w = month_of_windows("2026-06-01", "2026-07-01", spikes=[
        ("2026-06-10 14:00", 15, 5.0),    # Wednesday on-peak: 60 kW, the month's peak
        ("2026-06-20 03:00", 15, 4.0)])   # Saturday night: 48 kW
    bill = billing.bills(w, t, 300).iloc[0]
    on_before, on_after = 11 * 72 + 12, 11 * 72   # on-peak kWh; the spike adds 3 × 4 kWh
    total_kwh = 8640 + 12 + 9
    energy_cost = on_before * 0.30 + on_after * 0.40 + (total_kwh - on_before - on_after) * 0.10
    assert bill["energy_kwh"] == pytest.approx(total_kwh)
    assert energy_cost == pytest.approx(1264.5)
    assert bill["energy_cost"] == pytest.approx(1264.5)
    assert bill["peak_kw"] == pytest.approx(60.0)
    assert bill["peak_at"] == pd.Timestamp("2026-06-10 14:00")
    # 15 days at 15/kW and 15 at 20/kW; fixed 30 and 45 likewise.
    assert bill["demand_charge"] == pytest.approx(60 * 17.5)
    assert bill["fixed_charge"] == pytest.approx(37.5)
    assert bill["total"] == pytest.approx(1264.5 + 1050 + 37.5)
    assert bill["co2_kg"] == pytest.approx(total_kwh * 0.4)
    assert (bill["period_start"], bill["period_end"]) == (pd.Timestamp("2026-06-01"),
                                                          pd.Timestamp("2026-07-01"))


def test_the_ratchet_bills_a_share_of_an_earlier_peak():
    t = tariff(periods={}, ratchet_share=0.8, ratchet_months=11)
    w = pd.concat([month_of_windows("2026-05-01", "2026-06-01",
                                    spikes=[("2026-05-05 09:00", 15, 25 / 3)]),  # 100 kW
                   month_of_windows("2026-06-01", "2026-07-01",
                                    spikes=[("2026-06-10 14:00", 15, 5.0)])])      # 60 kW
    may, june = billing.bills(w, t, 300).itertuples()
    assert (may.peak_kw, may.ratchet_kw, may.billed_kw) == pytest.approx((100, 0, 100))
    assert (june.peak_kw, june.ratchet_kw, june.billed_kw) == pytest.approx((60, 80, 80))
    assert june.demand_charge == pytest.approx(80 * 15.0)
    # A ratchet that looks back less far than the old peak does not reach it.
    far = tariff(periods={}, ratchet_share=0.8, ratchet_months=1)
    assert billing.bills(w.assign(window_start=w["window_start"].where(
        w["window_start"] >= "2026-06-01", w["window_start"] - pd.DateOffset(months=1))),
        far, 300)["ratchet_kw"].tolist() == pytest.approx([0, 0])


def test_periods_follow_days_hours_months_and_the_zone():
    t = tariff(periods={"on_peak": SUMMER_PEAK,
                        "night": {"price_per_kwh": 0.05, "hours": "22-6"}})
    at = pd.to_datetime(["2026-06-10 13:00", "2026-06-13 13:00", "2026-01-14 13:00",
                         "2026-06-10 23:00", "2026-06-10 05:00", "2026-06-10 06:00"])
    s = (at - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    assert t.period_of(s).tolist() == ["on_peak", "base", "base", "night", "night", "base"]
    assert t.price_per_kwh(s).tolist() == [0.30, 0.10, 0.10, 0.05, 0.05, 0.10]
    # 12-18 in New York is 16-22 UTC in summer.
    ny = tariff(timezone="America/New_York")
    utc = pd.to_datetime(["2026-06-10 15:00", "2026-06-10 16:00", "2026-06-10 21:00",
                          "2026-06-10 22:00"])
    assert ny.period_of((utc - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).tolist() == [
        "base", "on_peak", "on_peak", "base"]


def test_carbon_from_an_hourly_profile_and_a_series(tmp_path):
    by_hour = tmp_path / "hours.csv"
    by_hour.write_text("hour,kg_per_kwh\n" + "".join(f"{h},{0.1 + h / 100}\n"
                                                     for h in range(24)))
    series = tmp_path / "series.csv"
    series.write_text("timestamp,kg_per_kwh\n2026-06-10T13:00:00Z,0.9\n"
                      "2026-06-10T14:00:00Z,0.8\n")
    at = pd.to_datetime(["2026-06-10 13:05", "2026-06-10 14:55", "2026-06-10 16:00"])
    s = ((at - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).to_numpy()
    assert tariff(carbon_profile=str(by_hour)).carbon_kg_per_kwh(s) == pytest.approx(
        [0.23, 0.24, 0.26])
    # Hours the series lacks take the constant.
    assert tariff(carbon_profile=str(series)).carbon_kg_per_kwh(s) == pytest.approx(
        [0.9, 0.8, 0.4])
    cost, co2 = tariff(carbon_profile=str(series)).window_cost(s, [2.0, 2.0, 2.0])
    assert cost == pytest.approx([0.6, 0.6, 0.6]) and co2 == pytest.approx([1.8, 1.6, 0.8])
    bad = tmp_path / "bad.csv"
    bad.write_text("hour,kg_per_kwh\n0,0.1\n")
    with pytest.raises(ConfigError, match="tariff.carbon_profile: .*0..23"):
        tariff(carbon_profile=str(bad))


@pytest.mark.parametrize("changes, message", [
    ({"periods": {"a": {"price_per_kwh": 1, "hours": "8-12"},
                  "b": {"price_per_kwh": 2, "hours": "11-13"}}},
     r"tariff.periods.b: overlaps tariff.periods.a \(e.g. month 1, mon, hour 11\)"),
    ({"periods": {"a": {"price_per_kwh": 1, "days": "mon-fry"}}},
     r"tariff.periods.a.days: 'fry' is not one of mon/tue"),
    ({"periods": {"a": {"price_per_kwh": 1, "hours": "8-25"}}},
     r"tariff.periods.a.hours: '25' is not one of 0..24"),
    ({"periods": {"a": {"hours": "8-12"}}}, r"tariff.periods.a.price_per_kwh: required"),
    ({"changes": {"2026-13-01": {"demand_charge_per_kw": 1}}},
     r"tariff.changes.2026-13-01: not a date"),
    ({"changes": {"2026-07-01": {}}}, r"tariff.changes.2026-07-01: names nothing"),
    ({"timezone": "Mars/Olympus"}, r"tariff.timezone: unknown zone"),
    ({"ratchet_share": 1.5}, r"tariff.ratchet_share: must be <= 1"),
])
def test_a_bad_tariff_fails_naming_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config().replace(tariff=changes)


def test_a_change_keeps_what_it_does_not_name():
    t = tariff(changes={"2026-06-16": {"demand_charge_per_kw": 20.0}})
    s = np.array([pd.Timestamp("2026-06-15 13:00").timestamp(),
                  pd.Timestamp("2026-06-16 13:00").timestamp()], dtype="int64")
    assert t.demand_charge_per_kw(s).tolist() == [15.0, 20.0]
    assert t.price_per_kwh(s).tolist() == [0.30, 0.30]
