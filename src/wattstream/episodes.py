"""Alert episodes: one building's alerts of one type in back-to-back windows are one episode
(its start, end, windows and worst value), as a person sees them. The job stores and sends
every window's alert; Alertmanager merges an episode into one notification (no window
label, `job.notify`); the live view and the report show episodes with this rule.

An alert continues its building's open episode of that type when its window starts no later
than the episode's last window ends: a window without the alert ends the episode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

COLUMNS = ("building_id", "type", "start", "end", "windows", "worst", "first_event")


def continues(last_window_end, window_start):
    """The rule, for one alert against its building's and type's open episode (datetimes, or
    pandas Series of them)."""
    return window_start <= last_window_end


@dataclass(frozen=True)
class Episode:
    type: str
    building: str
    start: datetime  # the first alert's window start
    end: datetime  # the last alert's window end
    windows: int  # alerts (windows) in it
    worst: float  # largest value
    threshold: float  # the last alert's
    first_event: datetime | None  # the first crossing reading's time

    def extend(self, window_start: datetime, window_end: datetime, value: float,
               threshold: float) -> Episode:
        same = window_end <= self.end  # a repeat of a window already in it
        return replace(self, end=max(self.end, window_end),
                       windows=self.windows + (0 if same else 1), worst=max(self.worst, value),
                       threshold=threshold)


def frame(alerts: pd.DataFrame, window_seconds: int) -> pd.DataFrame:
    """Episodes of a table of alerts (building_id, type, window_start, value; window_end and
    event_time where known; window_end defaults to a window after the start), in COLUMNS,
    longest first."""
    if alerts is None or alerts.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    a = alerts.copy()
    a["window_start"] = pd.to_datetime(a["window_start"])
    length = pd.Timedelta(seconds=window_seconds)
    default = a["window_start"] + length
    a["window_end"] = (pd.to_datetime(a["window_end"]).fillna(default) if "window_end" in a
                       else default)
    if "event_time" not in a:
        a["event_time"] = pd.NaT
    a = a.drop_duplicates(["building_id", "type", "window_start"]).sort_values(
        ["building_id", "type", "window_start"])
    key = a["building_id"].astype(str) + "\0" + a["type"].astype(str)
    # The running end of the episode so far within each key: a window starting later opens one.
    running_end = a.groupby(key, sort=False)["window_end"].cummax()
    prev_end = running_end.groupby(key, sort=False).shift()
    new = prev_end.isna() | ~continues(prev_end, a["window_start"])
    a["episode"] = new.cumsum()
    g = a.groupby("episode", sort=False)
    out = pd.DataFrame({
        "building_id": g["building_id"].first(), "type": g["type"].first(),
        "start": g["window_start"].min(), "end": g["window_end"].max(),
        "windows": g.size(), "worst": g["value"].max(),
        "first_event": pd.to_datetime(g["event_time"].min())})
    return out.sort_values(["windows", "worst", "building_id"], ascending=[False, False, True]
                           ).reset_index(drop=True)[list(COLUMNS)]


def per_building(episodes: pd.DataFrame) -> pd.DataFrame:
    """Each building's totals: episodes, alert windows, its longest episode (windows) and
    hours under alert; most windows first."""
    cols = ["building_id", "episodes", "windows", "longest", "hours"]
    if episodes.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    e = episodes.assign(hours=(episodes["end"] - episodes["start"]).dt.total_seconds() / 3600)
    g = e.groupby("building_id")
    out = pd.DataFrame({"episodes": g.size(), "windows": g["windows"].sum(),
                        "longest": g["windows"].max(), "hours": g["hours"].sum()})
    return out.reset_index().sort_values(["windows", "building_id"], ascending=[False, True]
                                         ).reset_index(drop=True)[cols]


