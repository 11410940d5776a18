"""Property tests of the reading contract (`schema.validate_reading`, `parse_payload`)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattstream.schema import (
    BUILDING_ID_MAX_LENGTH,
    FIELDS,
    InvalidReading,
    Reading,
    Reason,
    format_timestamp,
    parse_payload,
    validate_reading,
)

# Per test rather than a global profile, so other modules' hypothesis settings stay theirs.
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BY_NAME = {f.name: f for f in FIELDS}
NUMERIC = [f for f in FIELDS if f.kind in ("double", "int")]

# Instants well inside datetime's range so any zone offset stays representable.
instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                        timezones=st.just(UTC))
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
building_ids = st.text(min_size=1, max_size=BUILDING_ID_MAX_LENGTH).filter(lambda s: s.strip())


def in_range(f):
    if f.kind == "int":
        return st.integers(int(f.minimum), int(f.maximum))
    return st.floats(f.minimum, f.maximum, allow_nan=False, allow_infinity=False)


@st.composite
def valid_objects(draw):
    ts = draw(instants).astimezone(draw(offsets))
    obj = {"timestamp": ts.isoformat(), "building_id": draw(building_ids)}
    for f in NUMERIC:
        obj[f.name] = draw(st.none() | in_range(f)) if f.nullable else draw(in_range(f))
    for f in NUMERIC:
        if f.nullable and draw(st.booleans()) and obj[f.name] is None:
            del obj[f.name]  # an absent nullable field means null
    return obj


@SETTINGS
@given(valid_objects())
def test_valid_objects_are_accepted_unchanged(obj):
    r = validate_reading(obj)
    assert r.timestamp == datetime.fromisoformat(obj["timestamp"])
    assert r.timestamp.tzinfo == UTC
    assert r.building_id == obj["building_id"]
    for f in NUMERIC:
        assert getattr(r, f.name) == obj.get(f.name)


@SETTINGS
@given(valid_objects())
def test_json_roundtrip_keeps_every_value(obj):
    r = validate_reading(obj)
    back = parse_payload(r.to_json())
    assert back.building_id == r.building_id
    for f in NUMERIC:
        assert getattr(back, f.name) == getattr(r, f.name)
    # the wire format keeps milliseconds
    assert abs(back.timestamp - r.timestamp) < timedelta(milliseconds=1)
    assert format_timestamp(back.timestamp) == format_timestamp(r.timestamp)


@SETTINGS
@given(valid_objects(), st.dictionaries(st.text(min_size=1).filter(lambda k: k not in BY_NAME),
                                        st.integers() | st.text(), max_size=3))
def test_unknown_extra_fields_are_ignored(obj, extra):
    assert validate_reading({**obj, **extra}) == validate_reading(obj)


@SETTINGS
@given(valid_objects(), st.sampled_from([f.name for f in FIELDS if not f.nullable]))
def test_missing_required_field_is_named(obj, name):
    del obj[name]
    with pytest.raises(InvalidReading) as exc:
        validate_reading(obj)
    assert exc.value.reason == Reason.MISSING_FIELD and exc.value.field == name


@SETTINGS
@given(valid_objects(), st.sampled_from([f.name for f in FIELDS if not f.nullable]))
def test_null_required_field_is_named(obj, name):
    obj[name] = None
    with pytest.raises(InvalidReading) as exc:
        validate_reading(obj)
    assert exc.value.reason == Reason.MISSING_FIELD and exc.value.field == name


@st.composite
def out_of_range(draw):
    f = draw(st.sampled_from(NUMERIC))
    if f.kind == "int":
        value = draw(st.integers(max_value=int(f.minimum) - 1)
                     | st.integers(min_value=int(f.maximum) + 1, max_value=10**18))
    else:
        value = draw(st.floats(max_value=f.minimum, exclude_max=True, allow_nan=False,
                               allow_infinity=False)
                     | st.floats(min_value=f.maximum, exclude_min=True, allow_nan=False,
                                 allow_infinity=False)
                     | st.sampled_from([math.nan, math.inf, -math.inf]))
    return f, value


@SETTINGS
@given(valid_objects(), out_of_range())
def test_out_of_range_values_are_named(obj, bad):
    f, value = bad
    obj[f.name] = value
    with pytest.raises(InvalidReading) as exc:
        validate_reading(obj)
    assert exc.value.reason == Reason.OUT_OF_RANGE and exc.value.field == f.name
    assert f.name in str(exc.value)


@SETTINGS
@given(valid_objects(), st.sampled_from(NUMERIC),
       st.text() | st.booleans() | st.lists(st.integers(), max_size=2)
       | st.dictionaries(st.text(), st.integers(), max_size=2))
def test_wrong_types_are_named(obj, f, value):
    obj[f.name] = value
    with pytest.raises(InvalidReading) as exc:
        validate_reading(obj)
    assert exc.value.reason == Reason.WRONG_TYPE and exc.value.field == f.name


@SETTINGS
@given(valid_objects(), st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: not x.is_integer()))
def test_int_fields_reject_fractions(obj, value):
    obj["occupancy"] = value
    with pytest.raises(InvalidReading) as exc:
        validate_reading(obj)
    assert exc.value.field == "occupancy"


@SETTINGS
@given(valid_objects(), st.integers(0, 23))
def test_int_fields_accept_integral_floats(obj, hour):
    obj["hour"] = float(hour)
    r = validate_reading(obj)
    assert r.hour == hour and isinstance(r.hour, int)


@SETTINGS
@given(valid_objects(), st.text(min_size=BUILDING_ID_MAX_LENGTH + 1, max_size=100)
       | st.text(alphabet=" \t\n", max_size=5))
def test_blank_or_long_building_ids_are_rejected(obj, bid):
    obj["building_id"] = bid
    with pytest.raises(InvalidReading) as exc:
        validate_reading(obj)
    assert exc.value.field == "building_id"


@SETTINGS
@given(valid_objects(), st.datetimes(min_value=datetime(1971, 1, 1),
                                     max_value=datetime(2200, 1, 1)))
def test_zone_less_timestamps_need_a_default_zone(obj, naive):
    obj["timestamp"] = naive.isoformat()
    with pytest.raises(InvalidReading) as exc:
        validate_reading(obj)
    assert exc.value.reason == Reason.NAIVE_TIMESTAMP
    tz = ZoneInfo("America/New_York")
    assert validate_reading(obj, tz).timestamp == naive.replace(tzinfo=tz).astimezone(UTC)


@SETTINGS
@given(valid_objects(), st.text(max_size=30).filter(lambda s: _not_iso(s)))
def test_unparseable_timestamps_are_bad_timestamps(obj, text):
    obj["timestamp"] = text
    with pytest.raises(InvalidReading) as exc:
        validate_reading(obj)
    assert exc.value.reason == Reason.BAD_TIMESTAMP and exc.value.field == "timestamp"


def _not_iso(s: str) -> bool:
    try:
        datetime.fromisoformat(s.strip())
    except ValueError:
        return True
    return False


json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(st.one_of(json_values, valid_objects().flatmap(
    lambda o: st.fixed_dictionaries({k: st.just(v) | json_values for k, v in o.items()}))))
def test_anything_either_validates_or_raises_invalid_reading(value):
    try:
        r = validate_reading(value)
    except InvalidReading as exc:
        assert exc.reason in Reason.ALL
    else:
        assert isinstance(r, Reading)


@SETTINGS
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_payload_either_parses_or_raises_invalid_reading(payload):
    try:
        parse_payload(payload)
    except InvalidReading as exc:
        assert exc.reason in Reason.ALL


def test_huge_integer_for_a_double_field_is_out_of_range():
    obj = {"timestamp": "2026-01-01T00:00:00Z", "building_id": "b", "energy_kwh": 10**400,
           "temperature": 1.0, "day_of_week": 0, "hour": 0}
    with pytest.raises(InvalidReading) as err:
        validate_reading(obj)
    assert (err.value.reason, err.value.field) == (Reason.OUT_OF_RANGE, "energy_kwh")


def test_timestamp_beyond_utc_range_is_a_bad_timestamp():
    obj = {"timestamp": "9999-12-31T23:59:59-05:00", "building_id": "b", "energy_kwh": 1.0,
           "temperature": 1.0, "day_of_week": 0, "hour": 0}
    with pytest.raises(InvalidReading) as err:
        validate_reading(obj)
    assert err.value.reason == Reason.BAD_TIMESTAMP


@SETTINGS
@given(valid_objects(), st.datetimes(timezones=st.none() | offsets))
def test_any_calendar_instant_validates_or_is_a_bad_timestamp(obj, ts):
    obj["timestamp"] = ts.isoformat()
    try:
        r = validate_reading(obj, UTC)
    except InvalidReading as exc:
        assert exc.reason == Reason.BAD_TIMESTAMP and exc.field == "timestamp"
    else:
        assert r.timestamp == (ts if ts.tzinfo else ts.replace(tzinfo=UTC))
