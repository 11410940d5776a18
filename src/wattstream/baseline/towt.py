"""The baseline model: time-of-week-and-temperature (TOWT), as pure numpy.

In the spirit of LBNL's TOWT and CalTRACK hourly: the expected energy of a window is

    coef_tow[hour of week] + sum_j seg_j(temperature) * coef_temp[occupied?][j]

- one term per hour of the week, on the building's wall clock (Monday 00:00 local = 0 … 167,
  `localtime`), and one per hour of a day off (holidays, closures: 168 … 191), its own day
  type; a building without a day off in training takes Sunday's hours for them;
- the hours of the week are split into occupied and unoccupied from the load itself (TOWT's
  rule: an hour is occupied when more than `occupied_share` of its loads sit above a plain
  load-on-temperature line), so the temperature response of a closed building is its own;
- a piecewise-linear temperature response with knots at `KNOTS_C`; a segment with fewer than
  `MIN_SEGMENT_POINTS` training temperatures is merged into its neighbour (equal slopes), so
  a building that never saw frost has no frost slope.

Without temperature (a meter export with no weather) the model is time of week only
(`coef_tow_only`). `fit` is what `wattstream baseline` runs per building; `predict` is what the
job runs on each closed window; `g14` gives ASHRAE Guideline 14's CV(RMSE) and NMBE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..localtime import DAY_TYPE_HOURS

HOURS_OF_WEEK = 168
HOURS = DAY_TYPE_HOURS  # the week's hours, then a day off's 24 (holidays, closures)
SUNDAY = 6 * 24  # a day off never seen in training takes Sunday's hours
# LBNL TOWT's knots, 40/55/65/80/90 °F, in °C.
KNOTS_C = (4.44, 12.78, 18.33, 26.67, 32.22)
SEGMENTS = len(KNOTS_C) + 1
MIN_SEGMENT_POINTS = 20
TEMPERATURE_SHARE = 0.9  # below this share of windows with a temperature: time of week only


def segments(temperature: np.ndarray) -> np.ndarray:
    """The piecewise-linear basis (rows × SEGMENTS): the part of each temperature that falls
    in each segment between knots; the parts sum to the temperature."""
    t = np.asarray(temperature, dtype="float64")[:, None]
    lo = np.array((-np.inf, *KNOTS_C))
    hi = np.array((*KNOTS_C, np.inf))
    # The first segment carries the temperature itself up to the first knot.
    return np.clip(t, lo, hi) - np.where(np.isfinite(lo), lo, 0.0)


def segment_groups(temperature: np.ndarray, min_points: int = MIN_SEGMENT_POINTS) -> list[int]:
    """The group of each segment: consecutive segments merge until each group holds at least
    `min_points` temperatures (a group shares one slope)."""
    edges = np.array((-np.inf, *KNOTS_C, np.inf))
    counts = np.histogram(np.asarray(temperature, dtype="float64"), bins=edges)[0]
    groups, g, held = [], 0, 0
    for c in counts:
        groups.append(g)
        held += c
        if held >= min_points:
            g, held = g + 1, 0
    if groups[-1] == g and g > 0:  # a thin (or empty) top merges into the group below it
        groups = [min(x, g - 1) for x in groups]
    return groups


@dataclass
class Model:
    """One building's fitted baseline."""

    occupied: np.ndarray        # bool[168]
    coef_tow: np.ndarray        # [168], NaN where the hour was never seen
    coef_temp: np.ndarray       # [2, SEGMENTS]: unoccupied, occupied slopes per segment
    coef_tow_only: np.ndarray   # [168] of the model without temperature
    uses_temperature: bool

    def predict(self, how: np.ndarray, temperature: np.ndarray) -> np.ndarray:
        return predict(self.occupied[None, :], self.coef_tow[None, :], self.coef_temp[None],
                       self.coef_tow_only[None, :], np.array([self.uses_temperature]),
                       np.zeros(len(how), dtype="int64"), how, temperature)


def predict(occupied, coef_tow, coef_temp, coef_tow_only, uses_temperature, row, how,
            temperature) -> np.ndarray:
    """Expected energy of each window, vectorised over many buildings' models: `row` picks
    each window's model (rows of the stacked arrays), `how` its hour of week. Windows without
    a temperature get the time-of-week-only prediction; hours never seen in training, NaN."""
    row = np.asarray(row, dtype="int64")
    how = np.asarray(how, dtype="int64")
    t = np.asarray(temperature, dtype="float64")
    with_t = np.asarray(uses_temperature)[row] & ~np.isnan(t)
    occ = np.asarray(occupied)[row, how].astype("int64")
    temp_part = np.einsum("ij,ij->i", segments(np.nan_to_num(t)), coef_temp[row, occ])
    full = coef_tow[row, how] + temp_part
    return np.where(with_t, full, coef_tow_only[row, how])


def _design(how: np.ndarray, seg: np.ndarray | None, occupied: np.ndarray,
            groups: list[int]) -> np.ndarray:
    n = len(how)
    x = np.zeros((n, HOURS + (0 if seg is None else 2 * (max(groups) + 1))))
    x[np.arange(n), how] = 1.0
    if seg is not None:
        k = max(groups) + 1
        occ = occupied[how]
        for j, g in enumerate(groups):
            x[:, HOURS + g] += np.where(occ, 0.0, seg[:, j])
            x[:, HOURS + k + g] += np.where(occ, seg[:, j], 0.0)
    return x


def _tow_coefficients(beta: np.ndarray, seen: np.ndarray) -> np.ndarray:
    return np.where(seen, beta[:HOURS], np.nan)


def occupancy(how: np.ndarray, temperature: np.ndarray | None, y: np.ndarray,
              share: float) -> np.ndarray:
    """TOWT's occupied hours: those where more than `share` of the loads lie above a straight
    load-on-temperature fit (above the mean load without temperature)."""
    if temperature is None:
        fitted = np.full(len(y), y.mean())
    else:
        a = np.column_stack([np.ones(len(y)), temperature])
        fitted = a @ np.linalg.lstsq(a, y, rcond=None)[0]
    above = np.bincount(how, weights=(y > fitted).astype(float), minlength=HOURS)
    seen = np.bincount(how, minlength=HOURS)
    return np.divide(above, seen, out=np.zeros(HOURS), where=seen > 0) > share


def _lstsq(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    if w is None:
        return np.linalg.lstsq(x, y, rcond=None)[0]
    r = np.sqrt(w)
    return np.linalg.lstsq(x * r[:, None], y * r, rcond=None)[0]


def recency_weights(age_days: np.ndarray, half_life_days: float) -> np.ndarray | None:
    """Weight of each window in the fit: halved every `half_life_days` of age (the newest
    window weighs 1), so the model follows a building's recent schedule and season; None
    (all equal) for a half-life of 0."""
    if not half_life_days:
        return None
    return np.power(0.5, np.asarray(age_days, dtype="float64") / half_life_days)


def fit(how: np.ndarray, temperature: np.ndarray, y: np.ndarray,
        occupied_share: float = 0.65, weights: np.ndarray | None = None) -> Model:
    """Least-squares fit of one building's windows (hour of week, mean temperature — NaN when
    absent — and energy), weighted by `weights` (`recency_weights`) when given."""
    how = np.asarray(how, dtype="int64")
    t = np.asarray(temperature, dtype="float64")
    y = np.asarray(y, dtype="float64")
    w = None if weights is None else np.asarray(weights, dtype="float64")
    seen = np.bincount(how, minlength=HOURS) > 0
    tow_only = _lstsq(_design(how, None, np.zeros(HOURS, bool), [0]), y, w)
    coef_tow_only = _tow_coefficients(tow_only, seen)
    has_t = ~np.isnan(t)
    if len(y) == 0 or has_t.mean() < TEMPERATURE_SHARE:
        occ = occupancy(how, None, y, occupied_share) if len(y) else np.zeros(
            HOURS, bool)
        return _days_off_as_sunday(Model(occ, coef_tow_only.copy(), np.zeros((2, SEGMENTS)),
                                         coef_tow_only, False), seen)
    how_t, t_t, y_t = how[has_t], t[has_t], y[has_t]
    occ = occupancy(how_t, t_t, y_t, occupied_share)
    groups = segment_groups(t_t)
    beta = _lstsq(_design(how_t, segments(t_t), occ, groups), y_t,
                  None if w is None else w[has_t])
    k = max(groups) + 1
    slopes = beta[HOURS:].reshape(2, k)
    coef_temp = slopes[:, groups]  # merged segments share their group's slope
    seen_t = np.bincount(how_t, minlength=HOURS) > 0
    return _days_off_as_sunday(Model(occ, _tow_coefficients(beta, seen_t), coef_temp,
                                     coef_tow_only, True), seen_t)


def _days_off_as_sunday(m: Model, seen: np.ndarray) -> Model:
    """Hours of a day off never seen in training take Sunday's coefficients."""
    unseen = ~seen[HOURS_OF_WEEK:]
    for arr in (m.occupied, m.coef_tow, m.coef_tow_only):
        arr[HOURS_OF_WEEK:][unseen] = arr[SUNDAY:HOURS_OF_WEEK][unseen]
    return m


def widen(values: np.ndarray) -> np.ndarray:
    """A model's per-hour array of an earlier release (168 hours, no day off) → HOURS, the
    days off as Sunday."""
    v = np.asarray(values)
    if v.shape[-1] == HOURS:
        return v
    return np.concatenate([v, v[..., SUNDAY:HOURS_OF_WEEK]], axis=-1)


def g14(actual: np.ndarray, predicted: np.ndarray, parameters: int = 1) -> tuple[float, float]:
    """ASHRAE Guideline 14: (CV(RMSE), NMBE) as fractions, over n values with `parameters`
    degrees of freedom taken (1 on held-back data):

        CV(RMSE) = sqrt(sum((y - ŷ)²) / (n - p)) / mean(y)
        NMBE     = sum(y - ŷ) / ((n - p) · mean(y))
    """
    y = np.asarray(actual, dtype="float64")
    yhat = np.asarray(predicted, dtype="float64")
    dof = len(y) - parameters
    mean = y.mean() if len(y) else np.nan
    if dof <= 0 or not mean:
        return float("nan"), float("nan")
    resid = y - yhat
    return (float(np.sqrt((resid ** 2).sum() / dof) / mean),
            float(resid.sum() / (dof * mean)))
