"""PEAK_AT_RISK: warn while a billing interval is still open that it is about to set the
billing month's demand peak (the kW the demand charge is billed on).

The utility bills the highest average demand over one `tariff.demand_interval_minutes`
interval of the billing month (from `tariff.billing_day`). Per building the job keeps, in its
state, the month-to-date peak of the intervals completed so far. Each time a window of an open
interval is complete (a newer window of the building has readings, or the watermark closed
it), the interval's demand is projected from its energy so far plus, for the rest of the
interval, the baseline model's expectation scaled by how far the interval runs above or below
it so far (without a model: the energy so far, extrapolated). The model's terms are hourly,
so within an interval its shape changes only with the temperature: in practice the projection
carries the interval's current rate to its end. PEAK_AT_RISK fires when

  - the projection exceeds the month's peak by more than `alerts.peak_margin`,
  - at least `alerts.peak_lead_minutes` of the interval remain, and
  - the month has `alerts.peak_min_history_hours` of completed intervals (before that every
    interval is a new peak),

once per interval: `value` is the projected kW, `threshold` the month's peak kW,
`lead_minutes` the time left in the interval and `extra_charge` the demand charge the excess
would add (`tariff.demand_charge_per_kw`).

Evaluation points are window ends, whatever the micro-batches are, so a backfill and a live
run warn alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..billing import billing_month
from ..config import Config
from ..tariff import Tariff
from .alerts import PEAK_AT_RISK, empty, frame

STATE_COLUMNS = {"building_id": object, "eval_ws": "int64", "iv": "int64", "iv_kwh": "float64",
                 "iv_expected": "float64", "iv_warned": bool, "month": "int64",
                 "peak_kw": "float64", "month_intervals": "int64"}


def empty_state() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in STATE_COLUMNS.items()})


def evaluate(cfg: Config, tariff: Tariff, state: pd.DataFrame, windows: pd.DataFrame,
             now: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PEAK_AT_RISK of newly complete windows (`building_id`, `ws`, `energy_kwh`,
    `expected_kwh`; any order, each at most once) → (alerts, new state)."""
    if windows.empty:
        return empty(), state
    a, tr = cfg.alerts, cfg.tariff
    length = cfg.windows.length_seconds
    span = tr.demand_interval_minutes * 60
    hours = span / 3600
    w = windows.merge(state[["building_id", "eval_ws"]], on="building_id", how="left")
    w = w[~(w["ws"] <= w["eval_ws"])].sort_values(["building_id", "ws"], ignore_index=True)
    if w.empty:
        return empty(), state
    b = w["building_id"].to_numpy()
    ws = w["ws"].to_numpy(dtype="int64")
    iv = ws // span * span
    last_pos = span // length - 1
    pos = (ws - iv) // length
    month = billing_month(iv, tr.billing_day, tr.timezone)
    prior = pd.DataFrame({"building_id": b}).merge(state, on="building_id", how="left")
    first = np.r_[True, b[1:] != b[:-1]]
    # Energy so far in each window's interval, carrying the saved part of an interval that
    # began in an earlier batch.
    group = np.cumsum(first | np.r_[True, iv[1:] != iv[:-1]])
    same_iv = first & (prior["iv"].to_numpy(dtype="float64") == iv)
    carry_kwh = pd.Series(np.where(same_iv, prior["iv_kwh"], 0.0)).groupby(group).transform(
        "first").to_numpy()
    carry_exp = pd.Series(np.where(same_iv, prior["iv_expected"], 0.0)).groupby(
        group).transform("first").to_numpy()
    energy = w["energy_kwh"].to_numpy(dtype="float64")
    expected = w["expected_kwh"].to_numpy(dtype="float64")
    so_far = pd.Series(energy).groupby(group).cumsum().to_numpy() + carry_kwh
    exp_so_far = pd.Series(expected).groupby(group).cumsum().to_numpy() + carry_exp

    # The month's peak before each window: the saved one (same month) and the intervals this
    # batch completed earlier.
    complete = pos == last_pos
    demand = np.where(complete, so_far / hours, np.nan)
    mgroup = np.cumsum(first | np.r_[True, month[1:] != month[:-1]])
    running = pd.Series(demand).groupby(mgroup).cummax().groupby(mgroup).ffill()
    before = running.groupby(mgroup).shift(1).to_numpy()
    same_month = prior["month"].to_numpy(dtype="float64") == month
    saved_peak = pd.Series(np.where(first & same_month, prior["peak_kw"], np.nan)).groupby(
        mgroup).transform("first").to_numpy()
    peak = np.fmax(before, saved_peak)
    done = pd.Series(complete.astype("int64")).groupby(mgroup).cumsum().to_numpy()
    saved_n = pd.Series(np.where(first & same_month, prior["month_intervals"].fillna(0), 0)
                        ).groupby(mgroup).transform("first").to_numpy()
    history = saved_n + done - complete  # completed before this window

    elapsed = (pos + 1) * length
    remaining = span - elapsed
    rate = so_far / exp_so_far
    shaped = so_far + rate * expected * (remaining / length)
    linear = so_far * span / elapsed
    projected_kwh = np.where(np.isfinite(shaped) & (exp_so_far > 0), shaped, linear)
    projected = projected_kwh / hours
    eligible = ((pos < last_pos) & (remaining >= a.peak_lead_minutes * 60)
                & (history * hours >= a.peak_min_history_hours) & (peak > 0)
                & (projected > peak * (1 + a.peak_margin)))
    saved_warned = prior["iv_warned"].to_numpy(dtype=object) == True  # noqa: E712 - NaN: no
    warned_before = pd.Series(same_iv & saved_warned).groupby(group).transform(
        "any").to_numpy()
    hit = eligible & ~warned_before
    hit &= ~pd.Series(hit).groupby(group).cumsum().gt(1).to_numpy()  # the first per interval
    out = empty()
    if hit.any():
        start = pd.to_datetime(iv[hit], unit="s")
        out = frame(b[hit], start, start + pd.Timedelta(seconds=span), PEAK_AT_RISK,
                    projected[hit], peak[hit], pd.to_datetime(ws[hit] + length, unit="s"), now,
                    lead_minutes=remaining[hit] / 60,
                    extra_charge=(projected[hit] - peak[hit])
                    * tariff.demand_charge_per_kw(iv[hit]))
    warned = pd.Series(hit | warned_before).groupby(group).transform("any").to_numpy()

    last = np.r_[b[1:] != b[:-1], True]
    final_peak = np.fmax(running.to_numpy(), saved_peak)
    new = pd.DataFrame({
        "building_id": b[last], "eval_ws": ws[last], "iv": iv[last],
        "iv_kwh": so_far[last], "iv_expected": exp_so_far[last], "iv_warned": warned[last],
        "month": month[last], "peak_kw": final_peak[last],
        "month_intervals": (saved_n + done)[last]})
    keep = state[~state["building_id"].isin(new["building_id"])]
    state = pd.concat([keep, new], ignore_index=True) if len(keep) else new
    return out, state.astype(STATE_COLUMNS)
