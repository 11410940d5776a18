"""The engine's saved state as bytes, and how a release reads the state of an earlier one.

One Arrow IPC stream: its rows are the open windows; its schema metadata carries the format
version, the newest event time and three more tables as IPC streams of their own (the close
rules' per-building state, the peak warnings', the weather observations).

Format versions (`VERSION` is the one this release writes):
  0  the layout before the version was recorded (no b"version" key): read as 1
  1  open windows, buildings, peaks, weather, max_event_us, version

A release reads every version up to its own. A column an older state lacks takes its default
from `defaults` (what a window or building that state had never seen would have); a column
without a default (the keys: building, window start, weather site and time) is required.
Columns the release no longer uses are dropped. A state of a newer version than this release
knows is refused (`NewerState`): an upgrade may roll back, but the older code must not guess
at a format it does not know.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from . import aggregates, detect, peak, weather
from .alerts import THRESHOLD_RULES

VERSION = 1

FLAGS = tuple(f"fired_{r.type}" for r in THRESHOLD_RULES)

# Each table's columns with their dtypes, and the defaults of the columns that may be missing.
WINDOW_COLUMNS: dict[str, object] = {"building_id": object, "ws": "int64",
                                     **{p.name: p.dtype for p in aggregates.PARTIALS},
                                     **dict.fromkeys(FLAGS, bool)}
WINDOW_DEFAULTS: dict[str, object] = {
    # No reading of the window was counted: sums and counts 0, minimum and maximum unknown
    # (NaN, which `aggregates.merge` passes over); no threshold fired.
    **{p.name: (0 if p.merge == "sum" else np.nan) for p in aggregates.PARTIALS},
    **dict.fromkeys(FLAGS, False)}
BUILDING_DEFAULTS: dict[str, object] = {
    # No streak yet (window start -1 precedes every window), never seen, no gap alert.
    "abn_ws": -1, "abn_streak": 0, "stuck_ws": -1, "stuck_streak": 0, "stuck_value": np.nan,
    "seen_us": np.nan, "gap_fired_us": np.nan}
PEAK_DEFAULTS: dict[str, object] = {
    # No window evaluated, no interval or month under way (-1 matches none), no warning.
    "eval_ws": -1, "iv": -1, "iv_kwh": np.nan, "iv_expected": np.nan, "iv_warned": False,
    "month": -1, "peak_kw": np.nan, "month_intervals": 0}
WEATHER_DEFAULTS: dict[str, object] = {"temperature": np.nan, "humidity": np.nan}

TABLES = {  # metadata key → (what it holds, columns, defaults)
    b"buildings": ("the close rules' per-building state", detect.STATE_COLUMNS,
                   BUILDING_DEFAULTS),
    b"peaks": ("the peak warnings' per-building state", peak.STATE_COLUMNS, PEAK_DEFAULTS),
    b"weather": ("the weather observations", weather.COLUMNS, WEATHER_DEFAULTS),
}


class StateFormatError(ValueError):
    """A saved state this release cannot read."""


class NewerState(StateFormatError):
    """A state saved by a newer release, in a format this one does not know."""


@dataclass
class State:
    windows: pd.DataFrame    # WINDOW_COLUMNS
    buildings: pd.DataFrame  # detect.STATE_COLUMNS
    peaks: pd.DataFrame      # peak.STATE_COLUMNS
    weather: pd.DataFrame    # weather.COLUMNS
    max_event_us: int | None


def empty() -> State:
    return State(_empty(WINDOW_COLUMNS), _empty(detect.STATE_COLUMNS),
                 _empty(peak.STATE_COLUMNS), _empty(weather.COLUMNS), None)


def encode(state: State) -> bytes:
    table = _arrow(state.windows, WINDOW_COLUMNS)
    meta = {b"version": str(VERSION).encode(),
            b"max_event_us": b"" if state.max_event_us is None else str(
                state.max_event_us).encode(),
            b"buildings": _ipc(_arrow(state.buildings, detect.STATE_COLUMNS)),
            b"peaks": _ipc(_arrow(state.peaks, peak.STATE_COLUMNS)),
            b"weather": _ipc(_arrow(state.weather, weather.COLUMNS))}
    return _ipc(table.replace_schema_metadata(meta))


def decode(blob: bytes) -> State:
    """The state `encode` wrote, by this release or an earlier one."""
    table = pa.ipc.open_stream(blob).read_all()
    meta = table.schema.metadata or {}
    version = version_of(meta)
    if version > VERSION:
        raise NewerState(
            f"saved by a newer release (state format {version}; this release reads up to "
            f"{VERSION}): run that release or a newer one, or point storage.checkpoint_uri at "
            "a fresh path (the open windows start again empty)")
    raw = meta.get(b"max_event_us", b"")
    tables = {key: conform(_frame(meta.get(key)), columns, defaults, what)
              for key, (what, columns, defaults) in TABLES.items()}
    return State(conform(table.to_pandas(), WINDOW_COLUMNS, WINDOW_DEFAULTS, "the open windows"),
                 tables[b"buildings"], tables[b"peaks"], tables[b"weather"],
                 int(raw) if raw else None)


def version_of(meta: dict) -> int:
    raw = meta.get(b"version")
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise StateFormatError(f"state format version {raw!r} is not a number") from None


def conform(saved: pd.DataFrame | None, columns: dict[str, object],
            defaults: dict[str, object], what: str) -> pd.DataFrame:
    """`saved` with exactly `columns`: missing ones from `defaults`, unknown ones dropped."""
    if saved is None or saved.empty:
        return _empty(columns)
    missing = [c for c in columns if c not in saved.columns]
    required = [c for c in missing if c not in defaults]
    if required:
        raise StateFormatError(f"{what}: no column {', '.join(required)}")
    for c in missing:
        saved[c] = defaults[c]
    return saved[list(columns)].astype(columns).reset_index(drop=True)


def _empty(columns: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def _arrow(df: pd.DataFrame, columns: dict[str, object]) -> pa.Table:
    return pa.Table.from_pandas(df[list(columns)], preserve_index=False)


def _frame(blob: bytes | None) -> pd.DataFrame | None:
    return pa.ipc.open_stream(blob).read_all().to_pandas() if blob else None


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()
