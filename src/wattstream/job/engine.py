"""The window engine's driver side: the open windows of every building, folded one micro-batch
at a time from partial aggregates the JVM computed, as pure pandas steps.

Per micro-batch (`stream.process` feeds it):
  1. readings older than the watermark are late: dropped and counted (the watermark is the
     newest event time of the earlier batches minus `windows.watermark_seconds`);
  2. the JVM sums the on-time readings per (building, window) (`aggregates.PARTIALS`);
  3. `candidates`: the windows that may cross a threshold in this batch (running energy
     before the batch + the batch's energy passes a threshold not yet raised); only their
     readings come to the driver, and `apply` finds the crossing reading among them in
     event-time order (then Kafka partition and offset) — the alert's event time;
  4. `apply` merges the partials into the running windows (the live view), advances the
     watermark and closes the windows it passed: they are scored against the building's
     baseline model (expected kWh, residual, standardized residual), checked by the close
     rules (`detect`: ABNORMAL_USAGE, STUCK_METER, METER_GAP) and final (Parquet).

The state (open windows, fired alerts, newest event time, the close rules' and peak warnings'
per-building state, weather) is a few small tables, saved after each batch under the batch's id
(`encode`/`decode`, in the versioned format of `saved_state`);
a replayed batch starts again from the state of the batch before it, so its outputs are the
same (for the same baseline version).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..baseline.models import Models
from ..config import Config
from ..localtime import Calendar
from ..tariff import COST_COLUMNS, Tariff
from . import aggregates, detect, peak, saved_state, weather
from .aggregates import KEY
from .alerts import THRESHOLD_RULES, empty, frame
from .saved_state import FLAGS

READING_COLUMNS = ("building_id", "ws", "timestamp", "partition", "offset", "energy_kwh")


@dataclass
class Step:
    """What one micro-batch produced."""

    touched: pd.DataFrame  # the running windows the batch changed (WINDOW_COLUMNS)
    alerts: pd.DataFrame   # threshold alerts at their crossing readings, then ABNORMAL_USAGE
    closed: pd.DataFrame   # windows the watermark closed: final (CLOSED_COLUMNS)


# A closed window is also priced, with its emissions, under the tariff in effect at its start.
CLOSED_COLUMNS = (*aggregates.WINDOW_COLUMNS, *detect.EXPECTATION_COLUMNS, *COST_COLUMNS)


class Engine:
    def __init__(self, cfg: Config, models: Models | None = None):
        self.cfg = cfg
        self.length_s = cfg.windows.length_seconds
        self.delay_us = cfg.windows.watermark_seconds * 1_000_000
        self.models = models
        self.tariff = Tariff(cfg.tariff)
        self.calendar = Calendar(cfg)
        self.windows = _empty_state()
        self.buildings = detect.empty_state()
        self.peaks = peak.empty_state()
        self.weather = weather.Store(cfg)
        self.max_event_us: int | None = None
        # The last batch aligned to the state (`_prior`): `candidates` and `apply` share it.
        self._aligned: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None

    # --- the watermark ------------------------------------------------------------------
    def watermark_us(self) -> int | None:
        """Readings with an earlier event time (µs since the epoch) are late; None: none yet."""
        return None if self.max_event_us is None else self.max_event_us - self.delay_us

    # --- one batch ---------------------------------------------------------------------
    def candidates(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The batch's windows (KEY) that may cross a threshold not yet raised, with their
        energy before the batch (`prior_kwh`)."""
        prior = self._prior(batch)
        before = prior["energy_sum"].fillna(0.0).to_numpy()
        after = before + batch["energy_sum"].to_numpy(dtype="float64")
        maybe = np.zeros(len(batch), dtype=bool)
        for rule, flag in zip(THRESHOLD_RULES, FLAGS, strict=True):
            thr = rule.thresholds(self.cfg.alerts, batch["building_id"])
            maybe |= (after > thr) & ~prior[flag].eq(True).to_numpy()
        return pd.DataFrame({"building_id": batch["building_id"].to_numpy()[maybe],
                             "ws": batch["ws"].to_numpy()[maybe],
                             "prior_kwh": before[maybe]})

    def apply(self, batch: pd.DataFrame, batch_max_us: int | None, readings: pd.DataFrame,
              now: pd.Timestamp, idle_until_us: int | None = None) -> Step:
        """Fold a batch's partials (KEY + PARTIALS of its on-time readings, one row per
        window) in; `readings` are those of the `candidates` windows (READING_COLUMNS).
        `idle_until_us`: the batch holds an idle-close record (`schema.IDLE_CLOSE_KEY`) up to
        that event time, so the watermark moves past the end of its window (`idle_close`)."""
        prior = self._prior(batch)
        merged = aggregates.merge(prior, batch)
        out = [empty()]
        for flag in FLAGS:
            merged[flag] = prior[flag].eq(True).to_numpy()
        if len(readings):
            found = self._crossings(readings, prior, merged, now)
            out.append(found)
        touched = aggregates.finish(merged, self.length_s, self.calendar)
        if len(batch):
            # The state's rows the batch updates, from the alignment (no second key lookup:
            # at a million open windows each costs about half a second).
            row = prior[_STATE_ROW].to_numpy()
            keep = np.ones(len(self.windows), dtype=bool)
            keep[row[~np.isnan(row)].astype("int64")] = False
            rest = self.windows[keep]
            self.windows = (pd.concat([rest, merged[list(_STATE)]], ignore_index=True)
                            if len(rest) else merged[list(_STATE)].reset_index(drop=True))
        if batch_max_us is not None:
            self.max_event_us = (batch_max_us if self.max_event_us is None
                                 else max(self.max_event_us, int(batch_max_us)))
        if idle_until_us is not None:
            self.idle_close(idle_until_us)
        done = self._close()
        closed = aggregates.finish(done, self.length_s, self.calendar)
        expectation = None
        if self.models is not None:
            expectation = self.models.expect(
                closed["building_id"], closed["hour_of_week"].to_numpy(),
                closed["avg_temperature"].to_numpy(dtype="float64"),
                closed["energy_kwh"].to_numpy(dtype="float64"))
        for c in detect.EXPECTATION_COLUMNS:
            closed[c] = np.nan if expectation is None else expectation[c].to_numpy()
        closed["energy_cost"], closed["co2_kg"] = self.tariff.window_cost(
            done["ws"].to_numpy(dtype="int64"), closed["energy_kwh"].to_numpy())
        found, self.buildings = detect.close(self.cfg, self.buildings, done, closed, expectation,
                                             now)
        out.append(found)
        found, self.buildings = detect.silences(
            self.cfg, self.buildings, set(self.windows["building_id"]), self.watermark_us(),
            now)
        out.append(found)
        found, self.peaks = peak.evaluate(self.cfg, self.tariff, self.peaks,
                                          self._complete(batch, closed), now)
        out.append(found)
        self.weather.prune(self.watermark_us())
        alerts = pd.concat([a for a in out if len(a)], ignore_index=True) if any(
            len(a) for a in out) else empty()
        return Step(touched, alerts, closed)

    def idle_close(self, until_us: int) -> None:
        """Move the watermark to the end of the window holding event time `until_us`, as if
        readings `windows.watermark_seconds` later had arrived: every window up to it closes,
        and a reading for one of them that comes afterwards is late. Never moves it back."""
        length_us = self.length_s * 1_000_000
        end_us = (int(until_us) // length_us + 1) * length_us
        target = end_us + self.delay_us
        self.max_event_us = target if self.max_event_us is None else max(self.max_event_us,
                                                                          target)

    def _prior(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The state's rows aligned to the batch's windows (NaN/None where new), with each
        one's position in the state (`_STATE_ROW`); computed once per batch and state."""
        a = self._aligned
        if a is not None and a[0] is batch and a[1] is self.windows:
            return a[2]
        state = self.windows
        prior = batch[list(KEY)].merge(state.assign(**{_STATE_ROW: np.arange(len(state))}),
                                       on=list(KEY), how="left")
        self._aligned = (batch, state, prior)
        return prior

    def _crossings(self, readings: pd.DataFrame, prior: pd.DataFrame, merged: pd.DataFrame,
                   now: pd.Timestamp) -> pd.DataFrame:
        r = readings.sort_values([*KEY, "timestamp", "partition", "offset"], kind="stable",
                                 ignore_index=True)
        start = r[list(KEY)].merge(prior.assign(_row=np.arange(len(prior))), on=list(KEY),
                                   how="left")
        row = start["_row"].to_numpy()
        before = start["energy_sum"].fillna(0.0).to_numpy()
        running = before + r.groupby(list(KEY), sort=False)["energy_kwh"].cumsum().to_numpy()
        found = []
        for rule, flag in zip(THRESHOLD_RULES, FLAGS, strict=True):
            thr = rule.thresholds(self.cfg.alerts, r["building_id"])
            fired = merged[flag].to_numpy()
            crossing = (running > thr) & ~fired[row]
            if not crossing.any():
                continue
            first = r[crossing].drop_duplicates(list(KEY))  # sorted: the crossing reading
            i = first.index.to_numpy()
            ws = first["ws"].to_numpy(dtype="int64")
            found.append(frame(first["building_id"], pd.to_datetime(ws, unit="s"),
                               pd.to_datetime(ws + self.length_s, unit="s"), rule.type,
                               running[i], thr[i], first["timestamp"], now))
            fired = fired.copy()
            fired[row[i]] = True
            merged[flag] = fired
        return pd.concat(found, ignore_index=True) if found else empty()

    def _complete(self, batch: pd.DataFrame, closed: pd.DataFrame) -> pd.DataFrame:
        """Windows whose readings are all in (as far as the stream goes): closed ones, and open
        ones of the batch's buildings that have a newer window (`peak.evaluate` takes each
        once)."""
        open_ = self.windows[self.windows["building_id"].isin(batch["building_id"].unique())]
        newest = open_.groupby("building_id")["ws"].transform("max")
        done = aggregates.finish(open_[open_["ws"] < newest], self.length_s,
                                     self.calendar)
        if len(done):  # closed windows were scored already (`apply`)
            done["expected_kwh"] = np.nan
            if self.models is not None:
                done["expected_kwh"] = self.models.expect(
                    done["building_id"], done["hour_of_week"].to_numpy(),
                    done["avg_temperature"].to_numpy(dtype="float64"),
                    done["energy_kwh"].to_numpy(dtype="float64"))["expected_kwh"].to_numpy()
        rows = pd.concat([d for d in (done, closed) if len(d)], ignore_index=True) if (
            len(done) or len(closed)) else closed
        if rows.empty:
            return pd.DataFrame(columns=["building_id", "ws", "energy_kwh", "expected_kwh"])
        ws = (rows["window_start"] - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
        return pd.DataFrame({"building_id": rows["building_id"].to_numpy(),
                             "ws": ws.to_numpy(dtype="int64"),
                             "energy_kwh": rows["energy_kwh"].to_numpy(dtype="float64"),
                             "expected_kwh": rows["expected_kwh"].to_numpy(dtype="float64")})

    def _close(self) -> pd.DataFrame:
        """The running windows the watermark passed (partials, sorted by KEY), taken out."""
        wm = self.watermark_us()
        if wm is None or self.windows.empty:
            return aggregates.empty()
        ends_us = (self.windows["ws"].to_numpy(dtype="int64") + self.length_s) * 1_000_000
        closed = ends_us <= wm
        done = self.windows[closed]
        self.windows = self.windows[~closed].reset_index(drop=True)
        return done.sort_values(list(KEY), ignore_index=True)

    # --- the saved state (`saved_state`: format, versions, defaults) ---------------------
    def encode(self) -> bytes:
        return saved_state.encode(saved_state.State(
            self.windows, self.buildings, self.peaks, self.weather.obs, self.max_event_us))

    def decode(self, blob: bytes | None) -> None:
        """Take the state `encode` wrote, by this release or an earlier one (None: start
        empty); `saved_state.StateFormatError` if it cannot be read."""
        state = saved_state.empty() if blob is None else saved_state.decode(blob)
        self.windows, self.buildings, self.peaks = state.windows, state.buildings, state.peaks
        self.weather.obs, self.max_event_us = state.weather, state.max_event_us


_STATE = tuple(saved_state.WINDOW_COLUMNS)
_STATE_ROW = "_state_row"


def _empty_state() -> pd.DataFrame:
    return saved_state.empty().windows

