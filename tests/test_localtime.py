"""Each building's local time (`localtime`): which zone a building is in, and the local hour of
the week across both DST changes of an American and a European zone."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from wattstream.config import Config, ConfigError
from wattstream.job import aggregates
from wattstream.localtime import Calendar, calendar_fields, offset_seconds

NY, BERLIN = "America/New_York", "Europe/Berlin"


def _hourly(day_start_utc: str, hours: int) -> np.ndarray:
    t0 = pd.Timestamp(day_start_utc).timestamp()
    return t0 + 3600.0 * np.arange(hours)


@pytest.mark.parametrize("zone, local_midnight_utc, hours, hour_seen_twice, hour_skipped", [
    # 2026-03-08, New York: 02:00 EST → 03:00 EDT, a 23-hour day.
    (NY, "2026-03-08 05:00", 23, None, 2),
    # 2026-11-01, New York: 02:00 EDT → 01:00 EST, a 25-hour day.
    (NY, "2026-11-01 04:00", 25, 1, None),
    # 2026-03-29, Berlin: 02:00 CET → 03:00 CEST.
    (BERLIN, "2026-03-28 23:00", 23, None, 2),
    # 2026-10-25, Berlin: 03:00 CEST → 02:00 CET.
    (BERLIN, "2026-10-24 22:00", 25, 2, None),
])
def test_a_dst_day_has_its_wall_clock_hours(zone, local_midnight_utc, hours, hour_seen_twice,
                                            hour_skipped):
    dow, hour = calendar_fields(zone, _hourly(local_midnight_utc, hours))
    assert set(dow) == {6}  # every change falls on a Sunday: one local day
    counts = np.bincount(hour, minlength=24)
    assert counts.sum() == hours
    want = np.ones(24, dtype=int)
    if hour_seen_twice is not None:
        want[hour_seen_twice] = 2
    if hour_skipped is not None:
        want[hour_skipped] = 0
    assert counts.tolist() == want.tolist()
    # The next local midnight is Monday, hour of the week 0.
    cfg = Config().replace(calendar={"timezone": zone})
    nxt = _hourly(local_midnight_utc, hours + 1)[-1:]
    assert Calendar(cfg).hour_of_week(["b"], nxt).tolist() == [0]


def test_a_schedule_keeps_its_local_hour_across_the_change():
    """09:00 local is hour of the week 9 on the Monday before and after each change, though
    its UTC hour moved."""
    cfg = Config().replace(calendar={"timezones": {"ny": NY, "de": BERLIN}})
    z = Calendar(cfg)
    for building, before, after in (("ny", "2026-03-02 14:00", "2026-03-09 13:00"),
                                    ("ny", "2026-10-26 13:00", "2026-11-02 14:00"),
                                    ("de", "2026-03-23 08:00", "2026-03-30 07:00"),
                                    ("de", "2026-10-19 07:00", "2026-10-26 08:00")):
        s = [pd.Timestamp(before).timestamp(), pd.Timestamp(after).timestamp()]
        assert z.hour_of_week([building] * 2, s).tolist() == [9, 9], building


def test_a_building_s_zone_is_its_own_then_its_site_s_then_a_pattern_then_the_default():
    cfg = Config().replace(
        calendar={"timezone": "Europe/London",
                  "timezones": {"b-1": "Asia/Tokyo", "campus": "Europe/Paris",
                                "us-*": NY, "*": "Australia/Sydney"}},
        weather={"sites": {"b-1": "campus", "b-2": "campus"}})
    z = Calendar(cfg)
    assert z.name("b-1") == "Asia/Tokyo"          # its own entry beats its site's
    assert z.name("b-2") == "Europe/Paris"        # its site's
    assert z.name("us-7") == NY                   # the first matching pattern
    assert z.name("other") == "Australia/Sydney"  # a later pattern
    assert z.uniform is None
    plain = Calendar(Config().replace(calendar={"timezone": "Europe/London"}))
    assert plain.uniform == "Europe/London" and plain.name("x") == "Europe/London"


def test_the_fields_of_many_buildings_in_many_zones():
    cfg = Config().replace(calendar={"timezones": {"a": NY, "b": BERLIN}})
    s = np.full(3, pd.Timestamp("2026-07-06 12:30").timestamp())  # a Monday
    dow, hour = Calendar(cfg).fields(["a", "b", "c"], s)
    assert dow.tolist() == [0, 0, 0] and hour.tolist() == [8, 14, 12]
    assert offset_seconds(NY, s[0]) == -4 * 3600 and offset_seconds("UTC", s[0]) == 0


@pytest.mark.parametrize("data, key", [
    ({"calendar": {"timezone": "Mars/Olympus"}}, "calendar.timezone"),
    ({"calendar": {"timezones": {"east-*": "EST5EDT6"}}}, "calendar.timezones.east-*"),
])
def test_an_unknown_zone_names_its_key(data, key):
    with pytest.raises(ConfigError, match="^" + re.escape(key) + ": unknown zone"):
        Config().replace(**data)


def _partials(ws: int, local_hows: list[float]) -> pd.DataFrame:
    v = np.array(local_hows, dtype="float64")
    return aggregates.typed(pd.DataFrame({
        "building_id": ["b"], "ws": [ws], "n": [len(v)], "energy_sum": [1.0],
        "energy_max": [1.0], "energy_min": [1.0], "first_us": [ws * 1e6],
        "last_us": [ws * 1e6], "temperature_sum": [None], "temperature_count": [0],
        "humidity_sum": [None], "humidity_count": [0], "occupancy_sum": [None],
        "occupancy_count": [0], "local_how_count": [len(v)], "local_how_sum": [v.sum()],
        "local_how_min": [v.min()], "local_how_max": [v.max()]}))


@pytest.mark.parametrize("carried, mismatched", [
    ([9, 9, 9], 0),      # New York's wall clock: 09:xx on Monday
    ([14, 14, 14], 3),   # UTC fields, as a meter in the wrong zone sends them
    ([9, 10, 9], 1),     # one reading an hour off
    ([8, 10, 10], 3),    # none at the expected hour
])
def test_a_window_counts_the_readings_whose_local_fields_disagree(carried, mismatched):
    cfg = Config().replace(calendar={"timezone": NY})
    ws = int(pd.Timestamp("2026-07-06 13:00").timestamp())  # 09:00 EDT, Monday
    out = aggregates.finish(_partials(ws, carried), 300, Calendar(cfg))
    assert out["hour_of_week"].tolist() == [9]
    assert out["local_time_mismatches"].tolist() == [mismatched]


def test_a_window_saved_before_the_check_counts_no_mismatch():
    """A window from a state without the local-field partials (count 0, extremes NaN)."""
    parts = _partials(int(pd.Timestamp("2026-07-06 13:00").timestamp()), [3.0])
    parts[["local_how_count", "local_how_sum"]] = 0
    parts[["local_how_min", "local_how_max"]] = np.nan
    assert aggregates.finish(parts, 300)["local_time_mismatches"].tolist() == [0]


def test_days_off_are_the_building_s_holidays_and_closures_on_its_local_calendar():
    cfg = Config().replace(
        calendar={"timezones": {"ny-*": NY}, "holidays": {"ny-*": "US-NY", "de-*": "DE-BY"},
                  "closures": {"campus": "2026-12-24..2027-01-01, 2026-08-03"}},
        weather={"sites": {"ny-school": "campus"}})
    cal = Calendar(cfg)
    at = [pd.Timestamp(x).timestamp() for x in (
        "2026-11-27 03:00",   # 22:00 on Thanksgiving in New York
        "2026-11-27 05:00",   # 00:00 the day after
        "2026-12-28 15:00",   # the campus's Christmas closure
        "2026-08-03 12:00",   # a single closure day
        "2026-01-06 12:00",   # Epiphany in Bavaria
        "2026-01-06 12:00")]  # … but not in New York
    who = ["ny-1", "ny-1", "ny-school", "ny-school", "de-1", "ny-1"]
    assert cal.day_off(who, at).tolist() == [True, False, True, True, True, False]
    assert cal.day_type_hour(who[:2], at[:2]).tolist() == [168 + 22, 4 * 24 + 0]
    # No holidays configured: no day off, the weekly hour.
    assert not Calendar(Config()).day_off(who, at).any()


def test_the_named_days_off_say_why():
    from datetime import date

    from wattstream.localtime import named_days_off

    got = dict(named_days_off("GB-ENG", "2026-12-24..2026-12-27", date(2026, 12, 20),
                              date(2026, 12, 31)))
    assert got[date(2026, 12, 25)] == "Christmas Day"
    assert got[date(2026, 12, 24)] == "closure" and date(2026, 12, 23) not in got
    assert date(2026, 12, 28) in got  # Boxing Day (substitute)


@pytest.mark.parametrize("data, key", [
    ({"calendar": {"default_holidays": "XX"}}, "calendar.default_holidays"),
    ({"calendar": {"holidays": {"east-*": "US-ZZ"}}}, "calendar.holidays.east-*"),
    ({"calendar": {"closures": {"campus": "2026-13-01"}}}, "calendar.closures.campus"),
    ({"calendar": {"closures": {"campus": "2026-12-31..2026-12-24"}}},
     "calendar.closures.campus"),
])
def test_bad_days_off_name_their_key(data, key):
    with pytest.raises(ConfigError, match="^" + re.escape(key) + ": "):
        Config().replace(**data)
