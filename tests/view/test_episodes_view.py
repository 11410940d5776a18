"""The collector folds the alerts topic into episodes (one row per building and type while
windows follow each other) and matches Alertmanager's notifications to them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from wattstream.config import Config
from wattstream.view import collect

T0 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


class _Feed:
    """The collector's alert feed, fed by the test."""

    pending: list = []

    def __init__(self, *args, **kwargs):
        """Takes the real feed's arguments and connects nowhere."""

    def poll(self):
        out, _Feed.pending[:] = list(_Feed.pending), []
        return out

    def close(self):
        """Nothing to close."""


def _alert(kind, building, window, value, arrived):
    ws = T0 + timedelta(minutes=5 * window)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    return ({"alert_id": f"{kind}-{building}-{window}", "type": kind, "building_id": building,
             "value": value, "threshold": 150.0, "event_time": iso(ws + timedelta(seconds=70)),
             "window_start": iso(ws), "window_end": iso(ws + timedelta(minutes=5))}, arrived)


def _notification(kind, building, at, receiver="facilities"):
    return {"received_at": at, "path": f"/{receiver}",
            "body": {"receiver": receiver, "status": "firing",
                     "alerts": [{"labels": {"alertname": kind, "building": building}}]}}


def test_windows_in_a_row_are_one_row_and_notifications_find_their_episode(monkeypatch):
    monkeypatch.setattr(collect, "AlertFeed", _Feed)
    monkeypatch.setattr(collect.scrape, "scrape", lambda url, timeout=1.0: None)
    got: list = []

    def received() -> list:
        out = list(got)
        got.clear()
        return out

    c = collect.Collector(Config(), since=time.time(), notifications=received)
    now = time.time()
    _Feed.pending[:] = [_alert("HIGH_CONSUMPTION", "B1", w, 150 + w, now + w) for w in range(3)]
    _Feed.pending.append(_alert("PEAK_DEMAND", "B1", 2, 185, now + 2))
    s = c.snapshot()
    assert [(a.type, a.windows, a.value) for a in s.alerts] == [
        ("PEAK_DEMAND", 1, 185), ("HIGH_CONSUMPTION", 3, 152)]
    assert s.episodes == 2 and s.alert_counts == {"HIGH_CONSUMPTION": 3, "PEAK_DEMAND": 1}
    assert all(a.notified_at is None for a in s.alerts) and s.notifications == {}
    # A notification of an earlier episode (before this one reached Kafka) is not this one's.
    got += [_notification("HIGH_CONSUMPTION", "B1", now - 60),
            _notification("PEAK_DEMAND", "B1", now + 2.5, "facilities-critical")]
    s = c.snapshot()
    peak, high = s.alerts
    assert (peak.receiver, peak.notified_at) == ("facilities-critical", now + 2.5)
    assert high.notified_at is None
    assert s.notifications == {"facilities": 1, "facilities-critical": 1}
    # A window without the alert ends the episode: window 4 opens a new one.
    _Feed.pending[:] = [_alert("HIGH_CONSUMPTION", "B1", 4, 170, now + 4)]
    s = c.snapshot()
    assert [(a.type, a.windows) for a in s.alerts] == [
        ("HIGH_CONSUMPTION", 1), ("PEAK_DEMAND", 1), ("HIGH_CONSUMPTION", 3)]
    assert s.episodes == 3
    c.close()
