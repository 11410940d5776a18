"""Real datasets → canonical meter exports (`replay` reads them).

`convert_cambridge` maps the Cambridge University Estates 2019 archive (hourly electricity per
building + Bedford weather) to canonical rows. That archive replaced missing readings with 0 at
source, so zeros are dropped as missing and counted in the summary. With `weather_output` the
weather goes to its own file instead (site observations for `kafka.weather_topic`, replayed
with `--weather-input`) and the readings carry none, as a meter sends them.

`convert_meters` maps a plain meter export, one CSV per meter with a time column and an energy
column in kWh (the layout of the Cambridge `electricity_2019/` files, and of most utility
portals' downloads), to canonical rows without weather.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import WattstreamError
from ..localtime import Calendar
from ..schema import (
    FIELDS,
    InvalidReading,
    format_timestamp,
    parse_timestamp,
)
from .weather_files import CAMBRIDGE_SITE, write_weather


@dataclass
class ConvertSummary:
    rows: int = 0
    buildings: int = 0
    zeros_dropped: int = 0
    no_weather_dropped: int = 0
    missing_dropped: int = 0
    weather: int = 0
    files: list[str] = field(default_factory=list)


def _natural(p: Path) -> tuple[int, str]:
    m = re.search(r"_b(\d+)$", p.stem)
    return (int(m.group(1)) if m else 1 << 30, p.stem)


def _local_fields(zones: Calendar | None, building: str, ts: datetime) -> dict[str, int]:
    """The reading's `day_of_week` and `hour` on its building's wall clock (UTC without
    zones)."""
    local = ts if zones is None else ts.astimezone(ZoneInfo(zones.name(building)))
    return {"day_of_week": local.weekday(), "hour": local.hour}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)


def convert_cambridge(source: str | Path, output: str | Path, buildings: int | None = None,
                      start: datetime | None = None, end: datetime | None = None,
                      weather_output: str | Path | None = None,
                      zones: Calendar | None = None) -> ConvertSummary:
    """Write the Cambridge archive's hourly readings in the canonical schema, ordered by time
    then building. Building `b12` becomes `ucam-b12`; occupancy is unknown (empty). With
    `weather_output`, the readings carry no weather and the Bedford observations (site
    `bedford`) go to that CSV."""
    source, output = Path(source), Path(output)
    elec_dir, weather_file = source / "electricity_2019", source / "weather" / "bedford_2019.csv"
    if not elec_dir.is_dir() or not weather_file.is_file():
        raise WattstreamError(
            f"{source}: not the cambridge_estates_2019 folder (expected electricity_2019/ and "
            f"weather/bedford_2019.csv)")
    weather: dict[datetime, tuple[float, float | None]] = {}
    with open(weather_file, newline="") as fh:
        for row in csv.DictReader(fh):
            hum = row.get("rltv_hum [%]", "").strip()
            weather[_utc(row["datetime"])] = (float(row["air_temperature [degC]"]),
                                              float(hum) if hum else None)
    files = sorted(elec_dir.glob("UCam_Building_*.csv"), key=_natural)
    if buildings is not None:
        if buildings < 1:
            raise WattstreamError(f"--buildings must be >= 1, got {buildings}")
        files = files[:buildings]
    summary = ConvertSummary(buildings=len(files), files=[f.name for f in files])
    rows: list[tuple[datetime, int, dict[str, Any]]] = []
    for order, f in enumerate(files):
        bid = "ucam-" + f.stem.rsplit("_", 1)[-1]
        with open(f, newline="") as fh:
            for row in csv.DictReader(fh):
                ts = _utc(row["datetime"])
                if (start and ts < start) or (end and ts >= end):
                    continue
                energy = float(row["equipment load [kWh]"])
                if energy == 0.0:
                    summary.zeros_dropped += 1  # missing at source, not a real zero
                    continue
                w = weather.get(ts)
                if w is None and weather_output is None:
                    summary.no_weather_dropped += 1
                    continue
                apart = weather_output is not None
                rows.append((ts, order, {
                    "timestamp": format_timestamp(ts), "building_id": bid, "energy_kwh": energy,
                    "temperature": None if apart else w[0], "humidity": None if apart else w[1],
                    "occupancy": None, **_local_fields(zones, bid, ts),
                }))
    rows.sort(key=lambda r: (r[0], r[1]))
    records = [r[2] for r in rows]
    summary.rows = len(records)
    write_canonical(records, output)
    if weather_output is not None:
        obs = [{"site": CAMBRIDGE_SITE, "timestamp": format_timestamp(ts), "temperature": t,
                "humidity": h} for ts, (t, h) in sorted(weather.items())
               if not ((start and ts < start) or (end and ts >= end))]
        write_weather(obs, weather_output)
        summary.weather = len(obs)
    return summary


def cambridge_buildings(source: str | Path) -> list[tuple[str, str, float]]:
    """(building_id, type, floor area m2) of the archive's buildings: ids as
    `convert_cambridge` writes them, the gross internal area of its metadata, one type for
    all (the archive names no use)."""
    path = Path(source) / "building_floor_roof_areas.csv"
    if not path.is_file():
        raise WattstreamError(f"{source}: no building_floor_roof_areas.csv")
    with open(path, newline="") as fh:
        return [("ucam-" + row["Building ID"].strip(), "university",
                 float(row["GIA (m2)"])) for row in csv.DictReader(fh)]


_TIME_COLUMNS = ("timestamp", "datetime", "date_time", "time", "date")


def convert_meters(source: str | Path, output: str | Path, start: datetime | None = None,
                   end: datetime | None = None, zones: Calendar | None = None) -> ConvertSummary:
    """A meter export → canonical rows without weather, ordered by time then meter.

    `source` is a CSV file or a folder of them, one meter per file, its id the file's name
    (`UCam_Building_b0.csv` → `UCam_Building_b0`). Each file has a time column (`timestamp`,
    `datetime`, `time` or `date`; a time without a zone is UTC) and one energy column whose
    name holds `kwh` (any case, e.g. `equipment load [kWh]`). Empty energy cells are missing
    and counted; zeros are kept (a meter may read zero).
    """
    source, output = Path(source), Path(output)
    files = sorted(source.glob("*.csv"), key=_natural) if source.is_dir() else [source]
    if not files or not all(f.is_file() for f in files):
        raise WattstreamError(f"{source}: no meter CSV files there")
    summary = ConvertSummary(buildings=len(files), files=[f.name for f in files])
    rows: list[tuple[datetime, int, dict[str, Any]]] = []
    for order, f in enumerate(files):
        bid = re.sub(r"[^A-Za-z0-9._-]", "-", f.stem)[:64]
        with open(f, newline="") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            when = next((c for c in cols if c.strip().lower() in _TIME_COLUMNS), None)
            energy_cols = [c for c in cols if "kwh" in c.lower()]
            if when is None or len(energy_cols) != 1:
                raise WattstreamError(
                    f"{f}: not a meter export (needs a time column, one of "
                    f"{', '.join(_TIME_COLUMNS)}, and one energy column named with kWh; "
                    f"found {', '.join(cols) or 'no header'})")
            for line, row in enumerate(reader, start=2):
                raw = (row.get(energy_cols[0]) or "").strip()
                if not raw:
                    summary.missing_dropped += 1
                    continue
                try:
                    ts = parse_timestamp(row[when].strip().replace(" ", "T", 1), UTC)
                    energy = float(raw)
                except (InvalidReading, ValueError) as exc:
                    raise WattstreamError(f"{f} line {line}: {exc}") from None
                if (start and ts < start) or (end and ts >= end):
                    continue
                rows.append((ts, order, {
                    "timestamp": format_timestamp(ts), "building_id": bid, "energy_kwh": energy,
                    "temperature": None, "humidity": None, "occupancy": None,
                    **_local_fields(zones, bid, ts)}))
    rows.sort(key=lambda r: (r[0], r[1]))
    records = [r[2] for r in rows]
    summary.rows = len(records)
    write_canonical(records, output)
    return summary


def write_canonical(records: list[dict[str, Any]], output: str | Path) -> None:
    """Write canonical rows as Parquet (`.parquet`) or CSV (anything else)."""
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        _write(records, output)
    except OSError as exc:
        raise WattstreamError(f"cannot write {output}: {exc.strerror or exc}") from None


def _write(records: list[dict[str, Any]], output: Path) -> None:
    names = [f.name for f in FIELDS]
    if output.suffix.lower() in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {"timestamp": pa.string(), "string": pa.string(), "double": pa.float64(),
                 "int": pa.int64()}
        schema = pa.schema([(f.name, types[f.kind]) for f in FIELDS])
        table = pa.Table.from_pylist(records, schema=schema)
        pq.write_table(table, output)
        return
    with open(output, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: ("" if r.get(k) is None else r[k]) for k in names})
