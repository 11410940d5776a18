"""The close rules: checked on each building's closed windows in event-time order, with a
small per-building state carried across micro-batches (`State`).

- ABNORMAL_USAGE: the window's standardized residual against the building's baseline model
  (`baseline.Models`) passes `alerts.abnormal_sigma` for `alerts.abnormal_consecutive`
  windows in a row, and the model passes ASHRAE Guideline 14 (others stay silent; the job's
  metrics and log say why). Raised once per run of such windows, at the window that completes
  the run.
- STUCK_METER: `alerts.stuck_windows` windows in a row whose readings all repeat one non-zero
  value (a meter that froze). Those windows are not scored for ABNORMAL_USAGE: a frozen value
  says nothing about use.
- METER_GAP: a building sent nothing for `alerts.gap_seconds` of event time — found when its
  readings resume (the silence between two windows), or while it lasts (the watermark passed
  its last reading by that much and it has no open window). Once per silence.

Stuck and gap alerts carry durations: `value` is how long the meter has been stuck or silent
(minutes for STUCK_METER, seconds for METER_GAP) and `threshold` the configured one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from .alerts import ABNORMAL, GAP, STUCK, empty, frame

STATE_COLUMNS = {"building_id": object, "abn_ws": "int64", "abn_streak": "int64",
                 "stuck_ws": "int64", "stuck_streak": "int64", "stuck_value": "float64",
                 "seen_us": "float64",
                 "gap_fired_us": "float64"}
EXPECTATION_COLUMNS = ("expected_kwh", "residual_kwh", "std_residual")


def empty_state() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in STATE_COLUMNS.items()})


def streaks(first: np.ndarray, ws: np.ndarray, hit: np.ndarray, prior_ws: np.ndarray,
            prior_streak: np.ndarray, length: int) -> np.ndarray:
    """Run length of consecutive hits ending at each row, over rows sorted by building then
    window start; `first` marks a building's first row, whose run continues the saved one
    (`prior_ws`, `prior_streak`) when that window directly precedes it."""
    prev_ws = np.where(first, prior_ws, np.r_[np.int64(-1), ws[:-1]])
    contiguous = prev_ws == ws - length
    starts = first | ~hit | ~contiguous
    group = np.cumsum(starts)
    run = pd.Series(hit.astype("int64")).groupby(group).cumsum().to_numpy()
    carried = np.where(first & contiguous & hit, prior_streak, 0)
    base = pd.Series(carried).groupby(group).transform("first").to_numpy()
    return np.where(hit, run + base, 0)


def close(cfg: Config, state: pd.DataFrame, partials: pd.DataFrame, windows: pd.DataFrame,
          expectation: pd.DataFrame, now: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alerts of newly closed windows (`partials` and their `windows`, same rows, sorted by
    building and window start; `expectation` from `baseline.Models.expect`, or None) → (alerts,
    new state)."""
    if windows.empty:
        return empty(), state
    a, length = cfg.alerts, cfg.windows.length_seconds
    b = windows["building_id"].to_numpy()
    ws = partials["ws"].to_numpy(dtype="int64")
    first = np.r_[True, b[1:] != b[:-1]]
    prior = pd.DataFrame({"building_id": b}).merge(state, on="building_id", how="left")
    out = []

    # A window repeats one value when its readings are all equal: with two readings or more,
    # or with one that equals the previous window's (a meter reporting once a window).
    top = partials["energy_max"].to_numpy(dtype="float64")
    saved_ws = prior["stuck_ws"].fillna(-1).to_numpy("int64")
    prev_value = np.where(first, np.where(saved_ws == ws - length, prior["stuck_value"], np.nan),
                          np.r_[np.nan, top[:-1]])
    prev_value = np.where(first | (np.r_[-1, ws[:-1]] == ws - length), prev_value, np.nan)
    stuck = ((top == partials["energy_min"].to_numpy(dtype="float64")) & (top > 0)
             & ((partials["n"].to_numpy() >= 2) | (top == prev_value)))
    s_run = streaks(first, ws, stuck, saved_ws,
                    prior["stuck_streak"].fillna(0).to_numpy("int64"), length)
    hit = s_run == a.stuck_windows
    if hit.any():
        minutes = a.stuck_windows * length / 60
        out.append(_alerts(windows[hit], STUCK, np.full(hit.sum(), minutes), minutes,
                           windows["window_end"][hit], now))

    # Runs above and below the expectation are counted apart (the saved streak is signed).
    z = (expectation["std_residual"].to_numpy(dtype="float64") if expectation is not None
         else np.full(len(b), np.nan))
    scored = (expectation["model_passes"].to_numpy(dtype=bool) if expectation is not None
              else np.zeros(len(b), dtype=bool)) & ~stuck
    saved_ws = prior["abn_ws"].fillna(-1).to_numpy("int64")
    saved = prior["abn_streak"].fillna(0).to_numpy("int64")
    above = streaks(first, ws, scored & (z > a.abnormal_sigma), saved_ws,
                    np.maximum(saved, 0), length)
    below = streaks(first, ws, scored & (z < -a.abnormal_sigma), saved_ws,
                    np.maximum(-saved, 0), length)
    a_run = above - below
    hit = above == a.abnormal_consecutive
    if a.abnormal_direction == "both":
        hit |= below == a.abnormal_consecutive
    if hit.any():
        expected = expectation["expected_kwh"].to_numpy()[hit]
        sigma = (expectation["residual_kwh"] / expectation["std_residual"]).to_numpy()[hit]
        sign = np.where(above[hit] > 0, 1, -1)
        out.append(_alerts(windows[hit], ABNORMAL, windows["energy_kwh"].to_numpy()[hit],
                           expected + sign * a.abnormal_sigma * sigma,
                           windows["window_end"][hit], now))

    # Silences between windows: from the building's last reading before each window.
    first_us = partials["first_us"].to_numpy(dtype="float64")
    last_us = partials["last_us"].to_numpy(dtype="float64")
    before = np.where(first, prior["seen_us"].to_numpy(dtype="float64"),
                      np.r_[np.nan, last_us[:-1]])
    gap_us = a.gap_seconds * 1e6
    silent = (first_us - before >= gap_us) & (before != np.where(
        first, prior["gap_fired_us"].to_numpy(dtype="float64"), np.nan))
    if silent.any():
        out.append(_gap_alerts(b[silent], before[silent], first_us[silent] - before[silent],
                               cfg, now))

    last = np.r_[b[1:] != b[:-1], True]  # a building's last row
    fired = pd.Series(np.where(silent, before, np.nan)).groupby(b).max()
    new = pd.DataFrame({"building_id": b[last], "abn_ws": ws[last], "abn_streak": a_run[last],
                        "stuck_ws": ws[last], "stuck_streak": s_run[last],
                        "stuck_value": top[last],
                        "seen_us": last_us[last]})
    new["gap_fired_us"] = new["building_id"].map(fired).to_numpy(dtype="float64")
    old = prior.drop_duplicates("building_id").set_index("building_id")["gap_fired_us"]
    new["gap_fired_us"] = new["gap_fired_us"].fillna(new["building_id"].map(old))
    keep = state[~state["building_id"].isin(new["building_id"])]
    state = pd.concat([keep, new], ignore_index=True) if len(keep) else new
    return _concat(out), state.astype(STATE_COLUMNS)


def silences(cfg: Config, state: pd.DataFrame, open_buildings: set, watermark_us: int | None,
             now: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """METER_GAP of silences still going on: buildings without an open window whose last
    reading the watermark passed by `alerts.gap_seconds`."""
    if watermark_us is None or state.empty:
        return empty(), state
    seen = state["seen_us"].to_numpy(dtype="float64")
    quiet = ((watermark_us - seen >= cfg.alerts.gap_seconds * 1e6)
             & (state["gap_fired_us"].to_numpy(dtype="float64") != seen)
             & ~state["building_id"].isin(open_buildings).to_numpy())
    if not quiet.any():
        return empty(), state
    state = state.copy()
    state.loc[quiet, "gap_fired_us"] = seen[quiet]
    return (_gap_alerts(state["building_id"].to_numpy()[quiet], seen[quiet],
                        watermark_us - seen[quiet], cfg, now), state)


def _gap_alerts(buildings, last_us, silence_us, cfg: Config, now) -> pd.DataFrame:
    """One METER_GAP per silence, keyed by the window of its last reading (so both ways of
    finding a silence give the same alert id)."""
    length = cfg.windows.length_seconds
    ws = (np.asarray(last_us) // 1e6 // length * length).astype("int64")
    event = pd.to_datetime((np.asarray(last_us) + cfg.alerts.gap_seconds * 1e6).astype(
        "int64"), unit="us")
    return frame(buildings, pd.to_datetime(ws, unit="s"), pd.to_datetime(ws + length, unit="s"),
                 GAP, np.asarray(silence_us) / 1e6, float(cfg.alerts.gap_seconds), event, now)


def _alerts(windows: pd.DataFrame, kind: str, value, threshold, event_time, now):
    return frame(windows["building_id"], windows["window_start"], windows["window_end"], kind,
                 value, threshold, event_time, now)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else empty()
