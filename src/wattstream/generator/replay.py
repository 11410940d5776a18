"""Reading canonical meter exports (CSV or Parquet) for replay, and converting real datasets.

A canonical file has one column per `schema.FIELDS` name (humidity and occupancy may be absent or
empty). Each row is checked with `schema.validate_reading`; a bad row becomes a `BadRow` naming
its place (`line N` of a CSV, counting the header as line 1; `row N` of a Parquet file) and the
field at fault, so the caller can skip or reject it — never drop it silently.

`convert_cambridge` maps the Cambridge University Estates 2019 archive (hourly electricity per
building + Bedford weather) to canonical rows. That archive replaced missing readings with 0 at
source, so zeros are dropped as missing and counted in the summary.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from ..errors import WattstreamError
from ..schema import FIELDS, InvalidReading, Reading, format_timestamp, validate_reading

REQUIRED = tuple(f.name for f in FIELDS if not f.nullable)
_KINDS = {f.name: f.kind for f in FIELDS}


@dataclass(frozen=True)
class BadRow:
    where: str  # "line 12" or "row 12"
    field: str | None
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _cell(name: str, raw: str | None) -> Any:
    """A CSV cell as the JSON value it stands for (empty means missing)."""
    if raw is None:
        return None
    raw = raw.strip()
    if raw == "":
        return None
    kind = _KINDS.get(name)
    if kind in ("double", "int"):
        try:
            return int(raw) if kind == "int" and re.fullmatch(r"[+-]?\d+", raw) else float(raw)
        except ValueError:
            return raw  # the validator names the field and the wrong type
    return raw


def _check_columns(columns: list[str] | None, path: Path) -> None:
    missing = [c for c in REQUIRED if c not in (columns or [])]
    if missing:
        raise WattstreamError(
            f"{path}: missing column(s) {', '.join(missing)}; a replay file needs the canonical "
            f"columns {', '.join(f.name for f in FIELDS)} (see `wattstream generate convert`)")


def _validate(where: str, obj: dict[str, Any], default_tz: tzinfo | None) -> Reading | BadRow:
    try:
        return validate_reading(obj, default_tz)
    except InvalidReading as exc:
        return BadRow(where, exc.field, exc.reason, str(exc))


def read_rows(path: str | Path, default_tz: tzinfo | None = None
              ) -> Iterator[Reading | BadRow]:
    """Each row of a canonical CSV or Parquet file, validated, in file order."""
    path = Path(path)
    if not path.is_file():
        raise WattstreamError(f"replay file {path}: not found or not a file")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path, default_tz)
    try:
        fh = open(path, newline="", encoding="utf-8")  # noqa: SIM115 - closed by the generator
    except OSError as exc:
        raise WattstreamError(f"replay file {path}: {exc.strerror}") from None
    return _read_csv(fh, path, default_tz)


def _read_csv(fh, path: Path, default_tz: tzinfo | None) -> Iterator[Reading | BadRow]:
    with fh:
        reader = csv.DictReader(fh)
        try:
            _check_columns(reader.fieldnames, path)
        except UnicodeDecodeError:
            raise WattstreamError(f"replay file {path}: not UTF-8 text (CSV expected)") from None
        names = [f.name for f in FIELDS if f.name in reader.fieldnames]
        try:
            for row in reader:
                where = f"line {reader.line_num}"
                if None in row:
                    yield BadRow(where, None, "malformed_row",
                                 f"{len(reader.fieldnames) + len(row[None])} cells, expected "
                                 f"{len(reader.fieldnames)}")
                    continue
                yield _validate(where, {n: _cell(n, row[n]) for n in names
                                        if row[n] is not None}, default_tz)
        except UnicodeDecodeError:
            raise WattstreamError(
                f"replay file {path}: not UTF-8 text after line {reader.line_num}") from None
        except csv.Error as exc:
            raise WattstreamError(f"replay file {path}: line {reader.line_num}: {exc}") from None


def _read_parquet(path: Path, default_tz: tzinfo | None) -> Iterator[Reading | BadRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise WattstreamError(f"replay file {path}: not a readable Parquet file: {exc}") from None
    _check_columns(pf.schema_arrow.names, path)
    names = [f.name for f in FIELDS if f.name in pf.schema_arrow.names]
    row = 0
    for batch in pf.iter_batches(columns=names, batch_size=65_536):
        for obj in batch.to_pylist():
            row += 1
            ts = obj.get("timestamp")
            if isinstance(ts, datetime):
                obj["timestamp"] = ts.isoformat()
            yield _validate(f"row {row}", obj, default_tz)


# --- converting real datasets ------------------------------------------------------------------

@dataclass
class ConvertSummary:
    rows: int = 0
    buildings: int = 0
    zeros_dropped: int = 0
    no_weather_dropped: int = 0
    files: list[str] = field(default_factory=list)


def _natural(p: Path) -> tuple[int, str]:
    m = re.search(r"_b(\d+)$", p.stem)
    return (int(m.group(1)) if m else 1 << 30, p.stem)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)


def convert_cambridge(source: str | Path, output: str | Path, buildings: int | None = None,
                      start: datetime | None = None, end: datetime | None = None
                      ) -> ConvertSummary:
    """Write the Cambridge archive's hourly readings in the canonical schema, ordered by time
    then building. Building `b12` becomes `ucam-b12`; occupancy is unknown (empty)."""
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
                if w is None:
                    summary.no_weather_dropped += 1
                    continue
                rows.append((ts, order, {
                    "timestamp": format_timestamp(ts), "building_id": bid, "energy_kwh": energy,
                    "temperature": w[0], "humidity": w[1], "occupancy": None,
                    "day_of_week": ts.weekday(), "hour": ts.hour,
                }))
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
