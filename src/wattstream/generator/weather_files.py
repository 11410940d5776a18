"""Site weather observations as CSV files (`WEATHER_COLUMNS`): written by the dataset
conversions, replayed with `--weather-input` onto `kafka.weather_topic`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..errors import WattstreamError
from ..schema import (
    InvalidReading,
    Weather,
    parse_weather,
)
from .replay import cell

CAMBRIDGE_SITE = "bedford"  # the Met Office station of the archive's weather
WEATHER_COLUMNS = ("site", "timestamp", "temperature", "humidity")


def write_weather(obs: list[dict[str, Any]], output: str | Path) -> None:
    """Site observations as a CSV (`WEATHER_COLUMNS`), for `--weather-input`."""
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(output, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=WEATHER_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for o in obs:
                writer.writerow({k: ("" if o.get(k) is None else o[k]) for k in WEATHER_COLUMNS})
    except OSError as exc:
        raise WattstreamError(f"cannot write {output}: {exc.strerror or exc}") from None


def read_weather(path: str | Path) -> list[Weather]:
    """Observations of a weather CSV (`write_weather`), in time order; a bad row is an error
    naming its line."""
    out = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        _check_weather_columns(reader.fieldnames, Path(path))
        for line, row in enumerate(reader, start=2):
            obj = {"site": row["site"], "timestamp": row["timestamp"],
                   "temperature": cell("temperature", row.get("temperature")),
                   "humidity": cell("humidity", row.get("humidity"))}
            try:
                out.append(parse_weather(json.dumps(obj)))
            except InvalidReading as exc:
                raise WattstreamError(f"{path} line {line}: {exc}") from None
    return sorted(out, key=lambda w: w.timestamp)


def _check_weather_columns(columns: list[str] | None, path: Path) -> None:
    missing = [c for c in ("site", "timestamp") if c not in (columns or [])]
    if missing:
        raise WattstreamError(f"{path}: not a weather file (no {', '.join(missing)} column; "
                              f"expected {', '.join(WEATHER_COLUMNS)})")
