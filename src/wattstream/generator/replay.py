"""Reading canonical meter exports (CSV or Parquet) for replay.

A canonical file has one column per `schema.FIELDS` name (humidity and occupancy may be absent or
empty). Each row is checked with `schema.validate_reading`; a bad row becomes a `BadRow` naming
its place (`line N` of a CSV, counting the header as line 1; `row N` of a Parquet file) and the
field at fault, so the caller can skip or reject it — never drop it silently.

Converting real datasets to this format: `datasets`; weather files: `weather_files`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from ..errors import WattstreamError
from ..schema import (
    FIELDS,
    InvalidReading,
    Reading,
    validate_reading,
)

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


def cell(name: str, raw: str | None) -> Any:
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
                yield _validate(where, {n: cell(n, row[n]) for n in names
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
