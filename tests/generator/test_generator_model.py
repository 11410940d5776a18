"""The building model: seeded stability and plausible statistics."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from wattstream.generator.fleet import building_ids
from wattstream.generator.model import COOLING_BASE_C, HEATING_BASE_C, TYPE_NAMES, Buildings
from wattstream.generator.simulate import Simulator

WINDOW_S = 300.0


def simulate(ids, seed, start, days, dt=WINDOW_S, replica="r0"):
    sim = Simulator(ids, seed, replica)
    steps = int(days * 86400 / dt)
    rows = [sim.step(k, start + timedelta(seconds=k * dt), dt) for k in range(steps)]
    return sim, {
        "energy": np.array([b.energy_kwh for b in rows]),
        "temperature": np.array([b.temperature for b in rows]),
        "occupancy": np.array([b.occupancy for b in rows]),
        "hour": np.array([b.ts.hour for b in rows]),
        "dow": np.array([b.ts.weekday() for b in rows]),
    }


@pytest.fixture(scope="module")
def summer():
    return simulate(building_ids("r0", 60), 7, datetime(2026, 7, 1, tzinfo=UTC), 14)


@pytest.fixture(scope="module")
def winter():
    return simulate(building_ids("r0", 30), 7, datetime(2026, 1, 5, tzinfo=UTC), 7)


def test_building_parameters_depend_only_on_seed_and_id():
    small = Buildings(["a", "b", "c"], seed=1)
    large = Buildings(["x", "b", "y", "z"], seed=1)
    assert small.type_names[1] == large.type_names[1]
    assert small.area[1] == large.area[1]
    assert small.base_kw[1] == large.base_kw[1]
    other_seed = Buildings(["a", "b", "c"], seed=2)
    assert not np.array_equal(small.area, other_seed.area)


def test_fleet_mixes_all_types_and_sizes():
    b = Buildings(building_ids("r0", 300), seed=3)
    assert set(b.type_names) == set(TYPE_NAMES)
    assert b.area.min() < 1500 and b.area.max() > 20_000


def test_energy_is_per_interval_so_it_scales_with_the_interval():
    ids = building_ids("r0", 50)
    start = datetime(2026, 3, 2, 12, tzinfo=UTC)
    one_min = Simulator(ids, 5, "r0").step(0, start, 60.0).energy_kwh
    five_min = Simulator(ids, 5, "r0").step(0, start, 300.0).energy_kwh
    ratio = five_min.sum() / one_min.sum()
    assert 4.0 < ratio < 6.0


def test_most_windows_stay_below_150_kwh_and_peaks_above_180_occur(summer):
    energy = summer[1]["energy"]
    assert (energy < 150).mean() > 0.9
    assert (energy > 180).any()
    # large buildings (~1-2 MW) sit in the 80-170 kWh band at their busy hours
    busiest = np.percentile(energy, 95, axis=0)
    assert ((busiest > 80) & (busiest < 170)).any()


def test_summer_energy_rises_with_cooling_degrees_and_occupancy(summer):
    _, s = summer
    cdd = np.maximum(0.0, s["temperature"] - COOLING_BASE_C)
    n = s["energy"].shape[1]
    for i in range(n):
        e, c, o = s["energy"][:, i], cdd[:, i], s["occupancy"][:, i]
        assert np.corrcoef(e, c)[0, 1] > 0.2
        assert np.corrcoef(e, o)[0, 1] > 0.5
        # both effects hold jointly too (occupancy and heat peak at similar hours)
        coef = np.linalg.lstsq(np.column_stack([np.ones_like(e), c, o]), e, rcond=None)[0]
        assert coef[1] > 0 and coef[2] > 0


def test_winter_energy_rises_with_heating_degrees(winter):
    _, s = winter
    hdd = np.maximum(0.0, HEATING_BASE_C - s["temperature"])
    for i in range(s["energy"].shape[1]):
        e, h, o = s["energy"][:, i], hdd[:, i], s["occupancy"][:, i]
        coef = np.linalg.lstsq(np.column_stack([np.ones_like(e), h, o]), e, rcond=None)[0]
        assert coef[1] > 0


def test_offices_are_busy_on_weekday_afternoons_and_empty_at_night(summer):
    sim, s = summer
    offices = [i for i, t in enumerate(sim.buildings.type_names) if t == "office"]
    assert offices
    occ = s["occupancy"][:, offices]
    weekday_noon = (s["dow"] < 5) & (s["hour"] == 12)
    night = s["hour"] == 3
    sunday_noon = (s["dow"] == 6) & (s["hour"] == 12)
    assert occ[weekday_noon].mean() > 10 * max(occ[night].mean(), 1)
    assert occ[weekday_noon].mean() > 5 * max(occ[sunday_noon].mean(), 1)


def test_weather_is_diurnal_and_persistent(summer):
    _, s = summer
    temp = s["temperature"][:, 0]
    by_hour = [temp[s["hour"] == h].mean() for h in range(24)]
    assert by_hour[15] - by_hour[4] > 4  # afternoons warmer than nights
    anomaly = temp - np.array(by_hour)[s["hour"]]
    lag_1h = np.corrcoef(anomaly[:-12], anomaly[12:])[0, 1]
    assert lag_1h > 0.8  # AR(1) weather: an hour later it is still the same kind of day
    assert 0 <= s["energy"].min()


def test_same_seed_same_readings_other_seed_different():
    ids = building_ids("r0", 10)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    a = simulate(ids, 11, start, 0.5)[1]["energy"]
    b = simulate(ids, 11, start, 0.5)[1]["energy"]
    c = simulate(ids, 12, start, 0.5)[1]["energy"]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
