"""An alert of the alerts topic as Alertmanager receives it (`notify.payload`): pure logic."""

from __future__ import annotations

from datetime import UTC, datetime

from wattstream.config import Config
from wattstream.job import notify

NOW = datetime(2026, 3, 2, 14, 8, 30, tzinfo=UTC)


def topic_alert(**over) -> dict:
    a = {"alert_id": "abc", "building_id": "B1", "type": "HIGH_CONSUMPTION", "value": 151.5,
         "threshold": 150.0, "event_time": "2026-03-02T14:07:10.000Z",
         "window_start": "2026-03-02T14:05:00.000Z", "window_end": "2026-03-02T14:10:00.000Z",
         "raised_at": "2026-03-02T14:07:11.200Z", "lead_minutes": None, "extra_charge": None}
    a.update(over)
    return a


def test_labels_say_who_and_how_bad_and_annotations_what():
    cfg = Config().replace(weather={"sites": {"B1": "north"}},
                           notify={"link_url": "http://grafana/d/x?var-building={building}"})
    p = notify.payload(topic_alert(), cfg, NOW)
    assert p["labels"] == {"alertname": "HIGH_CONSUMPTION", "building": "B1", "site": "north",
                           "severity": "warning", "category": "consumption"}
    assert p["annotations"]["summary"] == "Building B1: high consumption"
    assert "151.5 kWh" in p["annotations"]["description"]
    assert p["annotations"]["value"] == "151.5" and p["annotations"]["threshold"] == "150"
    assert p["generatorURL"] == p["annotations"]["link"] == "http://grafana/d/x?var-building=B1"
    # It starts at the crossing reading and ends a window after its own window.
    assert p["startsAt"] == "2026-03-02T14:07:10.000Z"
    assert p["endsAt"] == "2026-03-02T14:15:00.000Z"


def test_a_late_post_still_ends_a_window_after_it_is_sent():
    later = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    p = notify.payload(topic_alert(), Config(), later)
    assert p["endsAt"] == "2026-03-02T15:05:00.000Z"
    assert "site" not in p["labels"]  # no weather site configured: no empty label
    assert "generatorURL" not in p


def test_missing_numbers_are_empty_not_nan():
    p = notify.payload(topic_alert(type="PEAK_AT_RISK", lead_minutes=None, threshold=None),
                       Config(), NOW)
    assert p["annotations"]["threshold"] == ""
    assert "nan" not in p["annotations"]["description"].lower()


def test_urls_are_split_and_trimmed():
    cfg = Config().replace(notify={"alertmanager_urls": "http://a:9093/, http://b:9093"})
    assert notify.urls(cfg) == ["http://a:9093", "http://b:9093"]
    assert notify.urls(Config()) == []


def test_a_url_that_is_not_one_fails_naming_the_field():
    import pytest

    from wattstream.config import ConfigError

    with pytest.raises(ConfigError, match="notify.alertmanager_urls"):
        Config().replace(notify={"alertmanager_urls": "alertmanager:9093"})
    with pytest.raises(ConfigError, match="notify.link_url"):
        Config().replace(notify={"link_url": "http://g/?b={bulding}"})
