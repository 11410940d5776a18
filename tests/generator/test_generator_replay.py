"""Reading canonical files (bad rows located by line) and converting the Cambridge archive."""

import hashlib
import re
from datetime import UTC, datetime

import pytest

from wattstream.errors import WattstreamError
from wattstream.generator.commands import CAMBRIDGE_SLICE
from wattstream.generator.datasets import convert_cambridge, write_canonical
from wattstream.generator.replay import BadRow, read_rows
from wattstream.schema import Reading

HEADER = "timestamp,building_id,energy_kwh,temperature,humidity,occupancy,day_of_week,hour\n"


def test_csv_bad_rows_are_reported_with_their_line(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text(
        HEADER
        + "2026-01-05T09:00:00Z,b1,12.5,3.0,80,10,0,9\n"        # line 2 ok
        + "2026-01-05T09:00:00Z,b2,-1,3.0,80,10,0,9\n"          # line 3 negative energy
        + "2026-01-05T09:05:00Z,b1,12.5,3.0,,,0,9\n"            # line 4 ok, nulls
        + "2026-01-05 09:05:00,b2,1.0,3.0,80,10,0,9\n"          # line 5 no zone
        + "2026-01-05T09:05:00Z,b2,abc,3.0,80,10,0,9\n"         # line 6 wrong type
        + "2026-01-05T09:05:00Z,b2,1.0,3.0,80,10,0,9,extra\n"   # line 7 too many cells
        + "2026-01-05T09:10:00Z,b2,1.0,3.0,80,2.5,0,9\n"        # line 8 fractional people
    )
    rows = list(read_rows(f))
    good = [r for r in rows if isinstance(r, Reading)]
    bad = {b.where: b for b in rows if isinstance(b, BadRow)}
    assert [r.building_id for r in good] == ["b1", "b1"]
    assert good[1].humidity is None and good[1].occupancy is None
    assert set(bad) == {"line 3", "line 5", "line 6", "line 7", "line 8"}
    assert bad["line 3"].field == "energy_kwh"
    assert bad["line 5"].reason == "naive_timestamp"
    assert bad["line 6"].reason == "wrong_type"
    assert bad["line 8"].field == "occupancy"


def test_zone_less_timestamps_accepted_with_a_default_zone(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text(HEADER + "2026-01-05 09:05:00,b2,1.0,3.0,80,10,0,9\n")
    from zoneinfo import ZoneInfo

    (r,) = read_rows(f, ZoneInfo("Europe/Paris"))
    assert r.timestamp == datetime(2026, 1, 5, 8, 5, tzinfo=UTC)


def test_missing_column_and_unreadable_file(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("timestamp,building_id\n2026-01-05T09:00:00Z,b1\n")
    with pytest.raises(WattstreamError, match="missing column.*energy_kwh"):
        list(read_rows(f))
    with pytest.raises(WattstreamError, match="not found"):
        read_rows(tmp_path / "nope.csv")
    bad = tmp_path / "x.parquet"
    bad.write_text("not parquet")
    with pytest.raises(WattstreamError, match="not a readable Parquet"):
        list(read_rows(bad))


def test_parquet_roundtrip_with_row_numbers(tmp_path):
    recs = [
        {"timestamp": "2026-01-05T09:00:00Z", "building_id": "b1", "energy_kwh": 1.5,
         "temperature": 2.0, "humidity": None, "occupancy": 3, "day_of_week": 0, "hour": 9},
        {"timestamp": "2026-01-05T09:00:00Z", "building_id": "b2", "energy_kwh": 1.5,
         "temperature": 2.0, "humidity": 50.0, "occupancy": None, "day_of_week": 9, "hour": 9},
    ]
    f = tmp_path / "m.parquet"
    write_canonical(recs, f)
    first, second = read_rows(f)
    assert isinstance(first, Reading) and first.occupancy == 3
    assert isinstance(second, BadRow) and second.where == "row 2"
    assert second.field == "day_of_week"


def test_convert_cambridge_drops_zeros_as_missing(tmp_path):
    out = tmp_path / "c.csv"
    s = convert_cambridge(CAMBRIDGE_SLICE, out, buildings=5,
                          start=datetime(2019, 11, 11, tzinfo=UTC),
                          end=datetime(2019, 11, 25, tzinfo=UTC))
    assert s.buildings == 5
    # the slice's real outages: b3 for 4 hours on 15 Nov, b2 for 23 hours on 24 Nov
    assert (s.zeros_dropped, s.no_weather_dropped) == (27, 0)
    rows = list(read_rows(out))
    assert all(isinstance(r, Reading) for r in rows)
    assert len(rows) == s.rows == 5 * 14 * 24 - 27
    assert all(r.energy_kwh > 0 for r in rows)
    assert [r.timestamp for r in rows] == sorted(r.timestamp for r in rows)
    assert {r.building_id for r in rows} <= {f"ucam-b{i}" for i in range(200)}
    # the source file itself agrees on the first reading of b0
    first_b0 = next(r for r in rows if r.building_id == "ucam-b0")
    line = (CAMBRIDGE_SLICE / "electricity_2019" / "UCam_Building_b0.csv").read_text().splitlines()
    value = next(float(x.split(",")[1]) for x in line[1:] if float(x.split(",")[1]) > 0)
    assert first_b0.energy_kwh == value


def test_the_cambridge_slice_is_the_one_its_source_file_describes():
    listed = {}  # file -> sha256, from SOURCE.txt's `sha256sum` lines
    for line in (CAMBRIDGE_SLICE / "SOURCE.txt").read_text().splitlines():
        if m := re.fullmatch(r"([0-9a-f]{64})  (\S+)", line):
            listed[m[2]] = m[1]
    files = {p.relative_to(CAMBRIDGE_SLICE).as_posix(): p for p in CAMBRIDGE_SLICE.rglob("*")
             if p.is_file()}
    assert set(files) - {"SOURCE.txt"} == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256(files[name].read_bytes()).hexdigest() == digest, name


def test_convert_rejects_a_wrong_folder(tmp_path):
    with pytest.raises(WattstreamError, match="not the cambridge_estates_2019 folder"):
        convert_cambridge(tmp_path, tmp_path / "o.csv")


def test_unwritable_output_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(WattstreamError, match="cannot write"):
        write_canonical([], blocker / "out.csv")


def test_convert_meters_reads_a_meter_export_without_weather(tmp_path):
    from wattstream.generator.datasets import convert_meters

    out = tmp_path / "meters.csv"
    s = convert_meters(CAMBRIDGE_SLICE / "electricity_2019", out)
    rows = [r for r in read_rows(out)]
    assert not [r for r in rows if isinstance(r, BadRow)]
    assert s.buildings == 8 and s.rows == len(rows) == 8 * 14 * 24  # zeros are kept here
    assert {r.building_id for r in rows} == {f"UCam_Building_b{i}" for i in range(8)}
    assert all(r.temperature is None and r.humidity is None for r in rows)
    first = min(rows, key=lambda r: (r.timestamp, r.building_id))
    assert first.timestamp == datetime(2019, 11, 11, tzinfo=UTC)
    # The energy is the file's, row for row.
    raw = (CAMBRIDGE_SLICE / "electricity_2019" / "UCam_Building_b0.csv").read_text()
    second_line = raw.splitlines()[1].split(",")
    b0 = sorted((r for r in rows if r.building_id == "UCam_Building_b0"),
                key=lambda r: r.timestamp)
    assert b0[0].energy_kwh == float(second_line[1])


def test_convert_meters_says_what_a_file_lacks(tmp_path):
    from wattstream.generator.datasets import convert_meters

    (tmp_path / "m.csv").write_text("when,power [kW]\n2019-01-01 00:00:00,3\n")
    with pytest.raises(WattstreamError, match="m.csv: not a meter export.*found when, power"):
        convert_meters(tmp_path / "m.csv", tmp_path / "o.csv")
    (tmp_path / "m.csv").write_text("datetime,load [kWh]\n2019-01-01 00:00:00,x\n")
    with pytest.raises(WattstreamError, match="m.csv line 2"):
        convert_meters(tmp_path / "m.csv", tmp_path / "o.csv")


def test_convert_cambridge_can_write_the_weather_apart(tmp_path):
    from wattstream.generator.weather_files import read_weather

    out, wx = tmp_path / "c.csv", tmp_path / "weather.csv"
    s = convert_cambridge(CAMBRIDGE_SLICE, out, weather_output=wx)
    rows = [r for r in read_rows(out) if not isinstance(r, BadRow)]
    assert s.no_weather_dropped == 0 and all(r.temperature is None for r in rows)
    obs = read_weather(wx)
    assert s.weather == len(obs) and {o.site for o in obs} == {"bedford"}
    with_weather = [r for r in read_rows(convert_cambridge(
        CAMBRIDGE_SLICE, tmp_path / "w.csv") and tmp_path / "w.csv")
        if not isinstance(r, BadRow)]
    at = {o.timestamp: o.temperature for o in obs}
    assert all(at[r.timestamp] == r.temperature for r in with_weather)
