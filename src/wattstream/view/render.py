"""The screen of the live view as a pure function of a `Snapshot`, and the closing summary.

`render(snapshot, width, height)` returns a rich renderable; `to_text` renders it without
colour, for tests and plain logs. Narrow terminals drop the less important columns.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..alert_types import TABLE, UNITS
from .snapshot import Alert, Building, JobStatus, Snapshot

BAR = 10  # cells of the threshold bar
WIDE = 96  # from this width on every column shows
MEDIUM = 80  # below it no threshold bar (the percentage stays) and no alert event time
NARROW = 64  # below it only building, energy and share of the threshold; short alert types
_DOTS = {True: ("●", "green"), False: ("○", "red"), None: ("◌", "yellow")}  # None: starting
SHORT_TYPES = {t.name: t.short for t in TABLE}
# Limits passed in red; what the baseline finds in magenta; data-quality events in yellow.
_CATEGORY_STYLES = {"baseline": "magenta", "data_quality": "yellow"}
STYLES = {t.name: _CATEGORY_STYLES[t.category] for t in TABLE if t.category in _CATEGORY_STYLES}


def render(s: Snapshot, width: int = 100, height: int | None = None) -> RenderableType:
    alerts = s.alerts[: 6 if height is None else max(1, min(6, (height - 20) // 3))]
    parts: list[RenderableType] = [_header(s, width)]
    status = job_status_text(s.job) if s.job else ""
    if status:
        parts.append(Text(status, style=_status_style(s.job)))
    if s.demo:
        parts.append(Text(s.demo, style="cyan"))
    fleet_rows = 10 if height is None else max(3, height - 17 - len(alerts) - len(s.notices)
                                                 - (2 if s.demo else 0)
                                                 - math.ceil(len(status) / max(width, 1)))
    parts += [_fleet(s.buildings[:fleet_rows], len(s.buildings), s.baseline, width,
                     _window(s.window_start, s.window_s)),
              _alerts(alerts, len(s.alerts), width)]
    parts += [Text(f"! {n}", style="yellow", overflow="ellipsis", no_wrap=True)
              for n in s.notices]
    parts.append(_links(s.links))
    return Group(*parts)


def to_text(s: Snapshot, width: int = 100, height: int | None = None) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None, record=True,
                      force_terminal=False, legacy_windows=False)
    console.print(render(s, width, height))
    return console.export_text()


def _header(s: Snapshot, width: int) -> Text:
    clock = [("wattstream", "bold"), (f" live · {_clock(s.elapsed_s)}", "")]
    services = [[_DOTS[up], (f" {name}", "")] for name, up in s.services]
    stats = [
        [(f"readings {_num(s.readings_in_per_s, '/s')} in", "")],
        [(f"{_num(s.processed_per_s, '/s')} processed", "")],
        [(f"lag {_num(s.kafka_lag, digits=0)}", "")],
        [(f"batch {_num(s.batch_s, ' s', 2)}", "")],
        [("quarantined ", ""), (f"{s.quarantined:,}", "yellow" if s.quarantined else "")],
        [(f"late {s.late:,}", "")],
    ]
    total = sum(s.alert_counts.values())
    alerts = [[("alerts ", ""), (f"{total:,}", "bold red" if total else "")]]
    if total:
        alerts[0].append((f" in {s.episodes:,} episodes", ""))
    alerts += [[(f"{k} {v:,}", "")] for k, v in sorted(s.alert_counts.items())]
    if s.notifications is not None:
        alerts.append([(f"notified {sum(s.notifications.values()):,}", "")])
    t = _flow([clock, *services], width, "   ")
    t.append("\n")
    t.append_text(_flow(stats, width, " · "))
    t.append("\n")
    t.append_text(_flow(alerts, width, " · "))
    return t


def job_status_text(j: JobStatus) -> str:
    """One line on what the job does, e.g. "job: kafka unreachable since 10:04:12, retrying
    (attempt 5, next in 16 s)". Times are local wall-clock time, as the job logs them."""
    if j.waiting:
        dependency = j.state.removeprefix("waiting_")
        text = f"job: {dependency} unreachable"
        if j.since:
            text += f" since {_wall(j.since, j.at)}"
        text += ", retrying"
        details = [f"attempt {j.attempt}"] if j.attempt else []
        if j.next_retry:
            details.append(f"next in {max(0, round(j.next_retry - j.at))} s")
        if details:
            text += f" ({', '.join(details)})"
        return text + _restarts(j)
    if j.state == "restarting":
        text = "job: restarting the query from its checkpoint"
        outage = []
        if j.reason:
            outage.append(f"{j.reason} unreachable" + (f" since {_wall(j.since, j.at)}"
                                                        if j.since else ""))
        if j.attempt:
            outage.append(f"attempt {j.attempt}")
        return text + (f" ({', '.join(outage)})" if outage else "") + " …" + _restarts(j)
    if j.state == "starting":
        return "job: starting (Spark, then the query) …"
    text = f"job: {j.state}"
    if j.last_batch:
        text += f" · last batch {_wall(j.last_batch, j.at)}"
    return text + _restarts(j)


def _restarts(j: JobStatus, prefix: str = " · ") -> str:
    """ · 3 in-process restarts (kafka 2, hdfs 1)"; empty without any."""
    total = sum(n for _, n in j.restarts)
    if not total:
        return ""
    by = ", ".join(f"{r} {n:,}" for r, n in j.restarts)
    return f"{prefix}{total:,} in-process restart{'s' * (total != 1)} ({by})"


def _status_style(j: JobStatus | None) -> str:
    if j is None:
        return ""
    if j.waiting:
        return "bold red"
    return {"restarting": "yellow", "starting": "yellow"}.get(j.state, "green")


def _wall(ts: float, now: float) -> str:
    """Local wall-clock time of `ts`, with its date when that is not the day of `now`."""
    t, today = datetime.fromtimestamp(ts), datetime.fromtimestamp(now)
    return f"{t:%H:%M:%S}" if t.date() == today.date() else f"{t:%Y-%m-%d %H:%M:%S}"


def _flow(groups: Sequence[Sequence[tuple[str, str]]], width: int, sep: str) -> Text:
    """Groups of styled pieces on lines of at most `width`, broken only between groups (so a
    label never ends a line without its number)."""
    t, used = Text(), 0
    for i, group in enumerate(groups):
        size = sum(len(text) for text, _ in group)
        if i and used + len(sep) + size > width:
            t.append("\n")
            used = 0
        elif i:
            t.append(sep)
            used += len(sep)
        for text, style in group:
            t.append(text, style=style)
        used += size
    return t


def _fleet(rows: Sequence[Building], total: int, baseline: bool | None, width: int,
           window: str) -> Table:
    wide, narrow = width >= WIDE, width < NARROW
    title = (f"fleet: {total} building{'s' * (total != 1)} by energy in the running window"
             + (f" {window}" if window else "")
             + (f", top {len(rows)}" if len(rows) < total else ""))
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, expand=False,
              padding=(0, 1), pad_edge=False, caption_justify="left",
              caption=None if rows else "waiting for the job's first window …")
    t.add_column("building", no_wrap=True, overflow="ellipsis", max_width=24)
    t.add_column("kWh", justify="right", no_wrap=True)
    t.add_column("of threshold", no_wrap=True)
    if not narrow:
        t.add_column("peak", justify="right", no_wrap=True)
        t.add_column("°C", justify="right", no_wrap=True)
        t.add_column("people", justify="right", no_wrap=True)
    if wide:
        t.add_column("expected" if baseline else "expected (no baseline)", justify="right",
                     no_wrap=True)
    for b in rows:
        cells = [b.id, f"{b.energy_kwh:,.1f}",
                 _share(b.energy_kwh, b.threshold_kwh, bar=width >= MEDIUM)]
        if not narrow:
            cells += [_num(b.peak_kwh, digits=2), _num(b.temperature, digits=1),
                      _num(b.occupancy, digits=0)]
        if wide:
            cells.append(_num(b.expected_kwh, digits=1))
        t.add_row(*cells)
    return t


def _window(start: float | None, length_s: int) -> str:
    if start is None:
        return ""
    a = datetime.fromtimestamp(start, tz=UTC)
    return f"{a:%H:%M}–{a + timedelta(seconds=length_s):%H:%M} UTC (event time)"


def _share(energy: float, threshold: float, bar: bool) -> Text:
    share = energy / threshold if threshold > 0 else 0.0
    style = "red" if share >= 1 else "yellow" if share >= 0.8 else "green"
    t = Text()
    if bar:
        filled = round(min(share, 1.0) * BAR)
        t.append("█" * filled, style=style)
        t.append("░" * (BAR - filled), style="dim")
        t.append(" ")
    t.append(f"{share:4.0%}", style=style)
    t.append(f" of {threshold:g}", style="dim")
    return t


def _alerts(rows: Sequence[Alert], total: int, width: int) -> Table:
    """One row per episode (back-to-back windows of one building and type), latest first."""
    title = "alerts, latest first" + (f" ({len(rows)} of {total})" if len(rows) < total else "")
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
              pad_edge=False, caption_justify="left", caption=None if rows else "none yet")
    timed, narrow = width >= MEDIUM, width < NARROW
    notified = any(a.notified_at is not None for a in rows) and width >= WIDE
    if timed:
        t.add_column("since", no_wrap=True)
    t.add_column("type", no_wrap=True, style="bold")
    t.add_column("building", no_wrap=True, overflow="ellipsis", max_width=24)
    t.add_column("worst vs threshold", no_wrap=True)
    if not narrow:
        t.add_column("windows", justify="right", no_wrap=True)
        t.add_column("after reading", justify="right", no_wrap=True)
    if notified:
        t.add_column("notified (webhook)", no_wrap=True, overflow="ellipsis", max_width=32)
    for a in rows:
        cells = [SHORT_TYPES.get(a.type, a.type) if narrow else a.type, a.building,
                 f"{a.value:,.1f} {'>' if a.value > a.threshold else '<'} {a.threshold:,.1f} "
                 f"{UNITS.get(a.type, 'kWh')}"]
        if timed:
            cells.insert(0, _event_clock(a.event_time))
        if not narrow:
            cells += [f"{a.windows:,}", _num(a.delay_s, " s", 1)]
        if notified:
            cells.append(notified_text(a))
        t.add_row(*cells, style=STYLES.get(a.type, "red"))
    return t


def notified_text(a: Alert) -> str:
    """'10:01:05 → facilities': when, and to which receiver, Alertmanager's notification went."""
    if a.notified_at is None:
        return ""
    return f"{datetime.fromtimestamp(a.notified_at):%H:%M:%S} → {a.receiver}"


def _links(links: Sequence[tuple[str, str]]) -> Text:
    t = Text("next: ", style="bold")
    for i, (what, where) in enumerate(links):
        t.append(("\n      " if i else "") + f"{what} ")
        t.append(where, style="cyan")
    t.append("\nCtrl-C stops everything and prints a summary", style="dim")
    return t


def summary(s: Snapshot, windows: str, extra: Sequence[tuple[str, str]] = ()) -> str:
    """The one-screen summary printed after Ctrl-C (plain text)."""
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(s.alert_counts.items())) or "none"
    lines = [
        f"wattstream ran {_clock(s.elapsed_s)}",
        f"  readings   {_int(s.readings_sent)} sent, {_int(s.readings_processed)} processed "
        f"by the job",
        f"  windows    {windows}",
        f"  alerts     {sum(s.alert_counts.values()):,} ({counts})"
        + (f" in {s.episodes:,} episodes" if s.alert_counts else ""),
        *([f"  notified   {sum(s.notifications.values()):,} notifications ("
           + (", ".join(f"{k} {v:,}" for k, v in sorted(s.notifications.items())) or "none")
           + ")"] if s.notifications is not None else []),
        f"  quarantined {s.quarantined:,}, late {s.late:,}",
        *([_restarts(s.job, "  job        ")] if s.job and s.job.restarts else []),
        *(f"  {what:<10} {where}" for what, where in extra),
    ]
    return "\n".join(lines)


def _clock(seconds: float) -> str:
    m, sec = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def _event_clock(iso: str) -> str:
    # "2026-03-03T10:01:40.000Z" -> "10:01:40": the day is the same for every recent alert.
    return iso[11:19] if len(iso) >= 19 else iso


def _num(v: float | None, unit: str = "", digits: int = 1) -> str:
    if v is None or v != v:
        return "—"
    return f"{v:,.{digits}f}{unit}"


def _int(v: int | None) -> str:
    return "—" if v is None else f"{v:,}"
