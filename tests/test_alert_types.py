"""The one registry of alert types (`alert_types`): its own rules, the text people read, and the
chart's copy of it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wattstream import alert_types

ROOT = Path(__file__).resolve().parents[1]
WS = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
WE = datetime(2026, 3, 2, 14, 10, tzinfo=UTC)


def test_the_registry_keeps_its_own_rules():
    alert_types.check()
    assert alert_types.TYPES == tuple(t.name for t in alert_types.TABLE)
    assert len({t.prometheus_alert for t in alert_types.TABLE}) == len(alert_types.TABLE)
    assert len({t.short for t in alert_types.TABLE}) == len(alert_types.TABLE)


@pytest.mark.parametrize("t", alert_types.TABLE, ids=lambda t: t.name)
def test_every_text_fills_in_from_an_alert(t):
    a = {"building_id": "B7", "value": 191.25, "threshold": 180.0, "lead_minutes": 6.0,
         "window_start": WS, "window_end": WE}
    for template in (t.summary, t.description):
        out = t.text(template, a, "north")
        assert "B7" in out and "{" not in out and "?" not in out
    assert "2026-03-02 14:05–14:10 UTC" in t.text(t.description, a)


def test_a_field_an_alert_lacks_prints_as_a_question_mark():
    t = alert_types.BY_NAME[alert_types.PEAK_AT_RISK]
    out = t.text(t.description, {"building_id": "B7", "value": 50.0, "threshold": float("nan"),
                                 "lead_minutes": None})
    assert "50.0 kW" in out
    assert out.count("?") == 2


def test_the_charts_copy_is_up_to_date():
    gen = ROOT / "charts" / "wattstream" / "gen_alert_types.py"
    res = subprocess.run([sys.executable, str(gen), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
