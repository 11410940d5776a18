"""The baseline model (`towt`): it recovers known coefficients, its Guideline 14 statistics
equal a direct computation, and it falls back to time of week without temperature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wattstream.baseline import fit, towt
from wattstream.config import Config

WEEK = towt.HOURS_OF_WEEK * 12  # five-minute windows


def _fleet_week(weeks: int, seed: int = 0, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    n = WEEK * weeks
    how = np.arange(n) // 12 % towt.HOURS_OF_WEEK
    t = 12 + 14 * np.sin(np.arange(n) / 700) + rng.normal(0, 2, n)
    occupied = (how % 24 >= 8) & (how % 24 < 18) & (how < 120)  # weekdays 08-18
    load = np.where(occupied, 40.0, 15.0)
    # Cooling above 18.33 °C: 1.5 kWh/°C when occupied, 0.5 when not; no heating.
    y = load + np.where(occupied, 1.5, 0.5) * np.maximum(t - 18.33, 0) + rng.normal(0, noise, n)
    return how, t, y, occupied


def test_fit_recovers_known_coefficients():
    how, t, y, occupied = _fleet_week(4)
    m = towt.fit(how, t, y)
    assert m.uses_temperature
    truth = np.bincount(how[occupied], minlength=towt.HOURS_OF_WEEK) > 0
    assert (m.occupied[:towt.HOURS_OF_WEEK] == truth).all()
    # No day off in training: a day off's hours are Sunday's.
    sunday = slice(towt.SUNDAY, towt.HOURS_OF_WEEK)
    assert (m.occupied[towt.HOURS_OF_WEEK:] == m.occupied[sunday]).all()
    np.testing.assert_array_equal(m.coef_tow[towt.HOURS_OF_WEEK:], m.coef_tow[sunday])
    # Slopes per segment (°C knots 18.33 and up): cooling only.
    cooling = towt.KNOTS_C.index(18.33) + 1
    assert m.coef_temp[1, cooling] == pytest.approx(1.5, abs=0.05)
    assert m.coef_temp[0, cooling] == pytest.approx(0.5, abs=0.05)
    assert np.abs(m.coef_temp[:, :cooling]).max() < 0.05
    # Below the cooling knot the load is flat: the hour terms carry it.
    cool_free = m.predict(np.arange(towt.HOURS_OF_WEEK), np.full(towt.HOURS_OF_WEEK, 10.0))
    assert np.allclose(cool_free, np.where(truth, 40.0, 15.0), atol=0.6)


def test_segments_sum_to_the_temperature_and_thin_segments_merge():
    t = np.array([-10.0, 0.0, 4.44, 10.0, 20.0, 30.0, 40.0])
    assert np.allclose(towt.segments(t).sum(axis=1), t)
    # No temperature below 12.78 °C or above 26.67 °C: those segments join their neighbour.
    groups = towt.segment_groups(np.r_[np.full(50, 15.0), np.full(50, 22.0)])
    assert groups == [0, 0, 0, 1, 1, 1]


def test_without_temperature_the_model_is_time_of_week_only():
    how, t, y, occupied = _fleet_week(2)
    m = towt.fit(how, np.full(len(y), np.nan), y)
    assert not m.uses_temperature
    p = m.predict(how, np.full(len(y), np.nan))
    means = pd.Series(y).groupby(how).mean()
    assert np.allclose(p, means.to_numpy()[how])


def test_g14_equals_a_direct_computation():
    rng = np.random.default_rng(3)
    y = rng.uniform(50, 150, 500)
    yhat = y + rng.normal(2, 10, 500)
    cv, nmbe = towt.g14(y, yhat, parameters=3)
    n, p = len(y), 3
    assert cv == pytest.approx(np.sqrt(((y - yhat) ** 2).sum() / (n - p)) / y.mean())
    assert nmbe == pytest.approx((y - yhat).sum() / ((n - p) * y.mean()))
    assert nmbe < 0  # the prediction runs high


def test_fit_building_scores_held_back_days_and_says_why_not():
    how, t, y, _ = _fleet_week(4, noise=2.0)
    starts = pd.Timestamp("2026-01-05") + pd.to_timedelta(np.arange(len(y)) * 300, unit="s")
    w = pd.DataFrame({"building_id": "b", "window_start": starts, "hour_of_week": how,
                      "avg_temperature": t, "energy_kwh": y})
    bc = Config().baseline
    holdout = starts[-1].floor("D") - pd.Timedelta(days=6)
    row = fit.fit_building(w, holdout, bc)
    assert row["passes"] and row["reason"] == ""
    assert 0 < row["cv_rmse"] < 0.1 and abs(row["nmbe"]) < 0.02
    assert row["holdout_hours"] == 7 * 24
    assert np.median(row["sigma"]) == pytest.approx(2.0, rel=0.15)
    short = fit.fit_building(w[w["window_start"] >= holdout - pd.Timedelta(days=3)],
                                  holdout, bc)
    assert not short["passes"] and short["reason"].startswith("too little history: 3 days")
    noisy = w.assign(energy_kwh=y + np.random.default_rng(1).normal(0, 40, len(y)))
    bad = fit.fit_building(noisy, holdout, bc)
    assert not bad["passes"] and "CV(RMSE)" in bad["reason"]


def test_a_holiday_is_its_own_day_type():
    """An office closed on its holidays: with days off as their own day type the model
    expects a closed day there; scored as the weekday it falls on, it would expect a full
    one."""
    rng = np.random.default_rng(3)
    weeks = 8
    n = weeks * WEEK
    how = np.arange(n) // 12 % towt.HOURS_OF_WEEK
    day = np.arange(n) // (12 * 24)
    holiday = np.isin(day, [9, 23, 37])  # Wednesdays, Thursdays … of some weeks
    open_ = (how % 24 >= 8) & (how % 24 < 18) & (how < 120) & ~holiday
    y = np.where(open_, 40.0, 15.0) + rng.normal(0, 0.5, n)
    t = np.full(n, np.nan)
    typed = np.where(holiday, towt.HOURS_OF_WEEK + how % 24, how)
    m = towt.fit(typed, t, y)
    noon_off = towt.HOURS_OF_WEEK + 12
    assert m.predict(np.array([noon_off]), np.array([np.nan]))[0] == pytest.approx(15, abs=1)
    plain = towt.fit(how, t, y)
    wednesday_noon = 2 * 24 + 12
    assert plain.predict(np.array([wednesday_noon]), np.array([np.nan]))[0] > 30


def test_a_model_of_an_earlier_release_takes_sunday_for_a_day_off():
    week = np.arange(towt.HOURS_OF_WEEK, dtype=float)
    wide = towt.widen(week)
    assert len(wide) == towt.HOURS
    np.testing.assert_array_equal(wide[towt.HOURS_OF_WEEK:], week[towt.SUNDAY:])


def test_recency_weights_follow_a_building_whose_load_changed():
    """A building whose base load drops by 10 kWh after six weeks: the equal-weight fit sits
    between the two levels, the recency-weighted one near the new level."""
    how, t, y, _ = _fleet_week(8, noise=0.5)
    n = len(y)
    y = y - np.where(np.arange(n) >= 6 * WEEK, 10.0, 0.0)
    age_days = (n - 1 - np.arange(n)) * 300 / 86_400
    assert towt.recency_weights(age_days, 0) is None
    w = towt.recency_weights(age_days, 7.0)
    assert w[-1] == pytest.approx(1.0) and w[-1 - 7 * 288] == pytest.approx(0.5)
    recent = slice(n - WEEK, n)
    flat = towt.fit(how, t, y)
    weighted = towt.fit(how, t, y, weights=w)
    err = {name: float(np.mean(np.abs(m.predict(how[recent], t[recent]) - y[recent])))
           for name, m in (("flat", flat), ("weighted", weighted))}
    assert err["flat"] > 2.0, err
    assert err["weighted"] < err["flat"] / 2, err
