"""The live view in a terminal: refreshed in place (the terminal's alternate screen, like
`top`) until Ctrl-C or until `done()` says the pipeline ended."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from rich.console import Console
from rich.live import Live

from .. import layout
from ..config import Config
from .collect import Collector
from .render import render
from .snapshot import Snapshot


def interactive(stream=None) -> bool:
    """True when the view can take the terminal: a TTY that is not `dumb`."""
    stream = stream or sys.stdout
    return stream.isatty() and os.environ.get("TERM", "") not in ("", "dumb")


def show(collector: Collector, done: Callable[[], bool] = lambda: False,
         refresh_s: float = 1.0, console: Console | None = None) -> Snapshot:
    """Refresh the screen from `collector` every `refresh_s`; KeyboardInterrupt propagates."""
    console = console or Console()
    with Live(console=console, screen=True, auto_refresh=False, redirect_stdout=False,
              redirect_stderr=False) as live:
        while not done():
            t0 = time.monotonic()
            snap = collector.snapshot()
            live.update(render(snap, console.width, console.height), refresh=True)
            while not done() and time.monotonic() - t0 < refresh_s:
                time.sleep(0.1)
    return collector.last


def shown_path(uri: str) -> str:
    """A local storage URI as a path relative to the working directory when inside it."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return uri
    p = Path(parsed.path)
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def data_paths(cfg: Config) -> dict[str, str]:
    return {"windows": shown_path(layout.data(cfg, "windows")),
            "alerts": shown_path(layout.data(cfg, "alerts")),
            "checkpoints": shown_path(layout.checkpoint(cfg, "").rstrip("/"))}


def links(cfg: Config, prometheus_url: str | None, alertmanager_url: str | None = None,
          logs: str | None = None) -> list[tuple[str, str]]:
    """What to open next, as (what, where): Prometheus and Alertmanager where they answer
    (the caller knows where its stack runs them)."""
    paths = data_paths(cfg)
    out = []
    if prometheus_url:
        out.append(("Prometheus",
                    f"{prometheus_url}/graph?g0.expr=wattstream_window_energy_kwh"))
    if alertmanager_url:
        out.append(("Alertmanager", f"{alertmanager_url} (silences: amtool --alertmanager"
                                    f".url={alertmanager_url} silence add building=…)"))
    out += [("job metrics", f"http://127.0.0.1:{cfg.metrics.job_port}/metrics"),
            ("Parquet", f"{paths['windows']} (final windows, by date), {paths['alerts']}"),
            ("baseline", "wattstream baseline (refits the models from the stored windows; "
                         "the job takes the new version up)")]
    if logs:
        out.append(("logs", logs))
    return out
