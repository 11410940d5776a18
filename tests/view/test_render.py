"""The live view's screen as a pure function of a snapshot: what a user must be able to read,
at the usual widths and on a narrow terminal."""

from dataclasses import replace

import pytest

from wattstream.view.render import render, summary, to_text
from wattstream.view.snapshot import Alert, Building, Snapshot

DEMO = ("demo: r0-b00000 a 36,000 m² hospital, r0-b00001 a 40,000 m² office; event time "
        "starts at 2026-03-03T10:00:00.000Z; alert thresholds unchanged")


def snapshot(**changes) -> Snapshot:
    buildings = tuple(Building(f"r0-b{i:05d}", e, 150.0, peak_kwh=e / 40, temperature=5.7,
                               occupancy=1000 - 10 * i, expected_kwh=180.0 if i == 0 else None)
                      for i, e in enumerate([367.7, 121.0, 93.4, 52.8, 36.4, 20.1, 10.0]))
    alerts = (Alert("PEAK_DEMAND", "r0-b00000", 186.6, 180.0, "2026-03-03T10:01:50.000Z", 1.4),
              Alert("HIGH_CONSUMPTION", "r0-b00000", 160.5, 150.0, "2026-03-03T10:01:40.000Z",
                    1.2))
    base = Snapshot(
        elapsed_s=102, services=(("kafka", True), ("hdfs", True), ("prometheus", False),
                                 ("generator", True), ("job", True)),
        readings_in_per_s=4.0, processed_per_s=4.1, readings_sent=780, readings_processed=760,
        kafka_lag=0, quarantined=3, late=1, batch_s=0.42, buildings=buildings,
        window_start=1772532000.0, alerts=alerts,
        alert_counts={"HIGH_CONSUMPTION": 1, "PEAK_DEMAND": 1}, episodes=2, baseline=False,
        demo=DEMO,
        notices=("job: no baseline yet",),
        links=(("Prometheus", "http://127.0.0.1:9090"), ("Parquet", ".run/warehouse/windows")))
    return replace(base, **changes)


def lines_with(text: str, word: str) -> list[str]:
    """Table rows holding `word`."""
    return [line for line in text.splitlines() if word in line
            and not line.startswith(("demo", "!", "next", "fleet", "alerts"))]


def test_the_header_says_what_runs_and_how_fast():
    text = to_text(snapshot(), 120)
    head = text.splitlines()[:3]
    assert "wattstream live · 01:42" in head[0]
    assert "● kafka" in head[0] and "○ prometheus" in head[0]
    assert "4.0/s in · 4.1/s processed · lag 0 · batch 0.42 s · quarantined 3 · late 1" in head[1]
    assert "alerts 2 in 2 episodes · HIGH_CONSUMPTION 1 · PEAK_DEMAND 1" in head[2]


def test_a_service_still_starting_is_neither_up_nor_down():
    text = to_text(snapshot(services=(("kafka", True), ("hdfs", None), ("job", False))), 120)
    assert "● kafka   ◌ hdfs   ○ job" in text.splitlines()[0]


def test_the_fleet_is_ranked_by_energy_with_the_share_of_its_threshold():
    text = to_text(snapshot(), 120)
    assert "running window 10:00–10:05 UTC (event time)" in text
    rows = [line.split()[0] for line in text.splitlines() if line.strip().startswith("r0-b")
            and "%" in line]
    assert rows == [f"r0-b{i:05d}" for i in range(7)]
    first = lines_with(text, "r0-b00000")[0]
    assert "367.7" in first and "245% of 150" in first and "██████████" in first
    assert "180.0" in first  # expected, from the baseline
    assert "81% of 150" in lines_with(text, "r0-b00001")[0]


def test_alerts_come_newest_first_with_value_threshold_and_delay():
    text = to_text(snapshot(), 120)
    peak, high = (lines_with(text, t)[-1] for t in ("PEAK_DEMAND", "HIGH_CONSUMPTION"))
    assert text.index(peak) < text.index(high)
    assert "10:01:50" in peak and "186.6 > 180.0" in peak and "1.4 s" in peak
    assert "160.5 > 150.0" in high


def test_an_episode_is_one_row_with_its_windows_and_where_it_was_notified():
    at = 1772532125.0  # 10:02:05 UTC
    alerts = (Alert("HIGH_CONSUMPTION", "r0-b00000", 171.2, 150.0, "2026-03-03T10:01:40.000Z",
                    1.2, windows=12, notified_at=at, receiver="facilities"),)
    s = snapshot(alerts=alerts, alert_counts={"HIGH_CONSUMPTION": 12}, episodes=1,
                 notifications={"facilities": 1})
    text = to_text(s, 120)
    (row,) = lines_with(text, "HIGH_CONSUMPTION")
    assert "171.2 > 150.0" in row and " 12 " in row
    from datetime import datetime
    assert f"{datetime.fromtimestamp(at):%H:%M:%S} → facilities" in row
    assert "notified (webhook)" in text
    assert "alerts 12 in 1 episodes" in text and "notified 1" in text
    assert "notified   1 notifications (facilities 1)" in summary(s, "")
    # Without Alertmanager the column and the count stay away.
    plain = to_text(snapshot(), 120)
    assert "notified" not in plain and "notified" not in summary(snapshot(), "")


def test_demo_notices_and_where_to_look_next_are_on_screen():
    text = to_text(snapshot(), 120)
    assert "demo: r0-b00000 a 36,000 m² hospital" in text
    assert "! job: no baseline yet" in text
    assert "next: Prometheus http://127.0.0.1:9090" in text
    assert "Ctrl-C stops everything" in text


@pytest.mark.parametrize("width", [40, 50, 63])
def test_a_narrow_terminal_keeps_building_energy_share_and_alerts(width):
    text = to_text(snapshot(), width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "● job" in text and "quarantined 3" in text  # wrapped between items, not inside
    first = lines_with(text, "r0-b00000")[0]
    assert "367.7" in first and "245%" in first
    assert "peak" not in text.split("alerts, latest first")[0]  # columns dropped, not squeezed
    assert lines_with(text, "PEAK ") and lines_with(text, "186.6 > 180.0")


@pytest.mark.parametrize("width", [64, 80, 95, 96, 160])
def test_no_line_is_wider_than_the_terminal(width):
    text = to_text(snapshot(), width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in "".join(lines_with(text, "r0-b0000"))  # nothing cut in the tables


def test_the_screen_fits_the_terminal_height_by_showing_the_top_buildings():
    many = tuple(Building(f"b{i:03d}", 200.0 - i, 150.0) for i in range(200))
    text = to_text(snapshot(buildings=many), 120, height=40)
    assert len(text.splitlines()) <= 40
    assert "b000" in text and "b199" not in text
    assert "fleet: 200 buildings" in text and "top " in text


def test_an_empty_pipeline_says_it_waits():
    text = to_text(Snapshot(), 100)
    assert "waiting for the job's first window" in text
    assert "none yet" in text
    assert "readings — in · — processed" in text


def test_render_returns_a_renderable_without_touching_a_terminal():
    assert render(snapshot(), 100) is not None


def test_the_closing_summary_counts_everything_in_plain_text():
    text = summary(snapshot(), "3 final windows written",
                   [("data", ".run/warehouse/windows"), ("logs", ".run/logs/")])
    assert text.splitlines()[0] == "wattstream ran 01:42"
    assert "780 sent, 760 processed" in text
    assert "3 final windows written" in text
    assert "alerts     2 (HIGH_CONSUMPTION 1, PEAK_DEMAND 1) in 2 episodes" in text
    assert "quarantined 3, late 1" in text
    assert ".run/logs/" in text
    assert "\x1b" not in text
