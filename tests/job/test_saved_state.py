"""The engine's saved state across releases (`saved_state`): the state a release saved is read
by every later one (fixtures/, written by state_fixture.py), a column an older state lacks
takes its documented default, and a state of a newer format is refused with what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import state_fixture as sf

from wattstream.job import detect, engine, peak, saved_state, weather

FIXTURES = sorted(sf.FIXTURES.glob("engine-state-v*.arrow"))


def _straight_run():
    e = engine.Engine(sf.CFG, sf.models())
    parts = sf.batches()
    sf.run(e, parts[:sf.CUT])
    return e, sf.run(e, parts[sf.CUT:])


def _same(got: pd.DataFrame, want: pd.DataFrame, key: list[str]) -> None:
    drop = ["alert_id", "detected_at"]
    pd.testing.assert_frame_equal(
        got.drop(columns=drop, errors="ignore").sort_values(key, ignore_index=True),
        want.drop(columns=drop, errors="ignore").sort_values(key, ignore_index=True))


def test_the_fixture_of_this_release_is_committed():
    assert sf.fixture(saved_state.VERSION) in FIXTURES, (
        f"no fixture for state format {saved_state.VERSION}: run `python "
        "tests/job/state_fixture.py` and commit it")


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_a_state_an_earlier_release_saved_resumes_as_if_never_stopped(path):
    straight, (want_alerts, want_closed) = _straight_run()
    e = engine.Engine(sf.CFG, sf.models())
    e.decode(path.read_bytes())
    assert len(e.windows) and len(e.buildings) and len(e.peaks) and len(e.weather.obs)
    assert e.windows["fired_HIGH_CONSUMPTION"].any()  # an alert raised before the stop
    got_alerts, got_closed = sf.run(e, sf.batches()[sf.CUT:])
    assert set(want_alerts["type"]) >= {"HIGH_CONSUMPTION", "PEAK_AT_RISK", "STUCK_METER"}
    _same(got_alerts, want_alerts, ["building_id", "type", "window_start"])
    _same(got_closed, want_closed, ["building_id", "window_start"])
    assert e.watermark_us() == straight.watermark_us()


def test_a_state_saved_before_versions_reads_as_the_first():
    blob = sf.fixture(1).read_bytes()
    table = pa.ipc.open_stream(blob).read_all()
    meta = {k: v for k, v in table.schema.metadata.items() if k != b"version"}
    old = saved_state._ipc(table.replace_schema_metadata(meta))
    pd.testing.assert_frame_equal(saved_state.decode(old).windows,
                                  saved_state.decode(blob).windows)


def _without(blob: bytes, window_column: str | None = None,
             table_column: tuple[bytes, str] | None = None) -> bytes:
    table = pa.ipc.open_stream(blob).read_all()
    meta = dict(table.schema.metadata)
    if window_column:
        table = table.drop_columns([window_column])
    if table_column:
        key, column = table_column
        inner = pa.ipc.open_stream(meta[key]).read_all().drop_columns([column])
        meta[key] = saved_state._ipc(inner)
    return saved_state._ipc(table.replace_schema_metadata(meta))


def test_columns_an_older_state_lacks_get_their_defaults():
    blob = sf.fixture(1).read_bytes()
    full = saved_state.decode(blob)
    s = saved_state.decode(_without(blob, "occupancy_count", (b"buildings", "gap_fired_us")))
    assert (s.windows["occupancy_count"] == 0).all()
    assert s.windows["occupancy_count"].dtype == np.int64
    assert s.buildings["gap_fired_us"].isna().all()
    s = saved_state.decode(_without(blob, "energy_max", (b"peaks", "iv_warned")))
    assert s.windows["energy_max"].isna().all() and not s.peaks["iv_warned"].any()
    s = saved_state.decode(_without(blob, "fired_PEAK_DEMAND", (b"weather", "humidity")))
    assert not s.windows["fired_PEAK_DEMAND"].any() and s.weather["humidity"].isna().all()
    # the rest as saved
    pd.testing.assert_frame_equal(s.buildings, full.buildings)


def test_every_column_but_the_keys_has_a_default():
    for columns, defaults, keys in (
            (saved_state.WINDOW_COLUMNS, saved_state.WINDOW_DEFAULTS, {"building_id", "ws"}),
            (detect.STATE_COLUMNS, saved_state.BUILDING_DEFAULTS, {"building_id"}),
            (peak.STATE_COLUMNS, saved_state.PEAK_DEFAULTS, {"building_id"}),
            (weather.COLUMNS, saved_state.WEATHER_DEFAULTS, {"site", "ts_us"})):
        assert set(columns) - set(defaults) == keys and set(defaults) <= set(columns)


def test_a_state_without_a_key_column_is_refused_naming_it():
    blob = sf.fixture(1).read_bytes()
    with pytest.raises(saved_state.StateFormatError, match="open windows: no column ws"):
        saved_state.decode(_without(blob, "ws"))


def test_a_state_of_a_newer_format_is_refused_saying_what_to_do():
    blob = sf.fixture(1).read_bytes()
    table = pa.ipc.open_stream(blob).read_all()
    future = str(saved_state.VERSION + 1).encode()
    newer = saved_state._ipc(table.replace_schema_metadata(
        {**table.schema.metadata, b"version": future}))
    with pytest.raises(saved_state.NewerState) as err:
        engine.Engine(sf.CFG).decode(newer)
    msg = str(err.value)
    assert f"state format {saved_state.VERSION + 1}" in msg
    assert f"reads up to {saved_state.VERSION}" in msg and "storage.checkpoint_uri" in msg


def test_this_release_writes_its_version():
    e = engine.Engine(sf.CFG)
    meta = pa.ipc.open_stream(e.encode()).read_all().schema.metadata
    assert meta[b"version"] == str(saved_state.VERSION).encode()
