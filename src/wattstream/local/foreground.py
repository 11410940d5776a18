"""`make run`: the generator and the streaming job as child processes, shown by the live view
in a terminal, or as their prefixed output lines otherwise (a pipe, CI, `--plain`).

Each child's output is appended to `<run_dir>/logs/<name>.log`. The job's JVM writes straight
to `job.log` (`job.jvm_log`), so Spark's and the JVM's start-up lines never reach the console.
Ctrl-C stops the generator, then the job, and prints a summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .. import layout
from ..config import Config
from ..errors import WattstreamError
from ..view import render
from ..view.collect import Collector
from ..view.live import data_paths, shown_path
from . import alertmanager, history, kafka, receiver, stack

# Log lines of wattstream's own processes (cli.py's format) worth a place on the screen.
_NOTICE = re.compile(r"^\S+ \S+ (?:WARNING|ERROR|CRITICAL) [\w.]+: (.*)$")
_DEMO = re.compile(r"wattstream\.generator\.run: (demo: .*)$")
DEMO_SITE = "demo-site"
DEMO_OFF = ("demo off (--no-demo): the seeded fleet at the current hour; alerts only where a "
            "building really passes its threshold")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log: Path


def run_pipeline(cfg: Config, config_file: str | None = None, *, plain: bool = True,
                 demo: bool | None = None, more: Callable[[], object] | None = None) -> int:
    """Run `wattstream generate` and `wattstream job` until Ctrl-C or until one exits.
    `demo` True/False forces generator.demo on/off; None leaves the config's. `more` starts
    the services the pipeline does not wait for, beside it (a failure there is reported, the
    pipeline goes on)."""
    base = [sys.executable, "-m", "wattstream"]
    if config_file:
        base += ["--config", str(config_file)]
    logs = stack.run_dir(cfg) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Children talk to the broker this stack started, whatever the file says.
    env = {**os.environ, "WATTSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap(cfg),
           "WATTSTREAM_JOB__JVM_LOG": str(logs / "job.log"), "PYTHONUNBUFFERED": "1"}
    if demo is not None:
        env["WATTSTREAM_GENERATOR__DEMO"] = str(demo).lower()
    demo_on = cfg.generator.demo if demo is None else demo
    if cfg.local.alertmanager and not cfg.notify.alertmanager_urls:
        # The job notifies the stack's Alertmanager (its retries ride out its start).
        env["WATTSTREAM_NOTIFY__ALERTMANAGER_URLS"] = alertmanager.url(cfg)
        if demo_on:
            # The demo's event time runs behind the wall clock (from the last weekday 10:00),
            # so every live alert would look like a replay; its history's alerts never reach
            # the alerts topic (alerts.quiet_before), so nothing old is sent.
            env["WATTSTREAM_NOTIFY__MAX_EVENT_AGE_SECONDS"] = "0"
    if demo_on and cfg.kafka.weather_topic and not (
            cfg.generator.weather_site or cfg.weather.sites or cfg.weather.default_site):
        # The demo's meters send no weather: their site's comes on the weather topic and the
        # job joins it back, as with real meter exports.
        env["WATTSTREAM_GENERATOR__WEATHER_SITE"] = DEMO_SITE
        env["WATTSTREAM_WEATHER__DEFAULT_SITE"] = DEMO_SITE
    windows_before = final_windows(cfg)
    cfg = cfg.replace(kafka={"bootstrap_servers": kafka.bootstrap(cfg)})  # for the view too
    starting = threading.Event()  # set while services start beside the pipeline

    def services() -> list[tuple[str, bool | None]]:
        return [(n, up or (None if starting.is_set() else False))
                for n, up in stack.running(cfg)]

    notified = (receiver.Tail(alertmanager.notifications_file(stack.run_dir(cfg)))
                if "WATTSTREAM_NOTIFY__ALERTMANAGER_URLS" in env else None)
    if notified is not None:
        notified()  # what an earlier run's alerts got is not this run's
    collector = Collector(cfg, time.time() - 5, services=services,
                          links=stack.view_links(cfg, shown_path(logs.as_uri()) + "/"),
                          notifications=notified)
    collector.demo = "" if demo_on else DEMO_OFF
    if env.get("WATTSTREAM_WEATHER__DEFAULT_SITE") == DEMO_SITE:
        collector.notices.append(f"demo: the meters send no weather; {DEMO_SITE}'s comes on "
                                 f"{cfg.kafka.weather_topic} and the job joins it")
    lock = threading.Lock()
    summary: dict = {}

    def on_line(child: Child, line: str) -> None:
        if child.name == "generator" and line.startswith("{") and '"acknowledged"' in line:
            summary.update(json.loads(line))
        if m := _DEMO.search(line):
            collector.demo = m.group(1).replace(" m2 ", " m² ")
        elif m := _NOTICE.match(line):
            collector.notices.append(f"{child.name}: {m.group(1)}")
        if plain:
            with lock:
                print(f"[{child.name:9}] {line}", flush=True)

    seeded = 0
    if demo_on and cfg.local.demo_history_days and history.topic_is_empty(cfg):
        # Before the job and the live readings: the job takes the history in first, and its
        # alerts stay quiet (stored, not sent or shown: they are weeks old).
        collector.notices.append(f"demo: {cfg.local.demo_history_days} days of history sent "
                                 "first, for the baselines; its alerts are stored, not shown")
        with open(logs / "history.log", "ab") as log:
            seeded, quiet_before = history.backfill(cfg, base, env, log)
        env["WATTSTREAM_ALERTS__QUIET_BEFORE"] = quiet_before
    children = {name: _start(name, argv, env, logs / f"{name}.log", on_line)
                for name, argv in (("job", base + ["job"]), ("generator", base + ["generate"]))}
    stopping = threading.Event()
    fitting: list = []  # the baseline fit's process while it runs
    if seeded:
        threading.Thread(target=_fit_baselines, args=(base, env, logs, collector, seeded,
                                                      stopping, fitting), daemon=True).start()
    beside = threading.Thread(target=_beside, args=(more, collector, plain, stopping, starting),
                              daemon=True)
    if more is not None:
        starting.set()
        beside.start()
    code = 0
    try:
        if plain:
            print("wattstream running: generator → Kafka → job; Ctrl-C stops", flush=True)
            while all(c.proc.poll() is None for c in children.values()):
                collector.snapshot()
                time.sleep(1.0)
        else:
            from ..view.live import show

            show(collector, done=lambda: any(c.proc.poll() is not None
                                             for c in children.values()))
        code = _report_exits(children)
    except KeyboardInterrupt:
        print("\nstopping generator and job …", flush=True)
    finally:
        stopping.set()
        for proc in list(fitting):  # a baseline fit still running stops with the pipeline
            with contextlib.suppress(ProcessLookupError):  # it just ended
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        _stop(children["generator"])
        collector.snapshot()  # the job's last counts, before it goes
        _stop(children["job"])
        collector.close()
        if beside.is_alive():  # a service it is starting must be up before the stack stops
            beside.join(timeout=cfg.local.start_timeout_seconds * 2)
    _print_summary(cfg, collector, summary, windows_before, logs)
    return code


def _fit_baselines(base: list[str], env: dict, logs: Path, collector: Collector,
                   seeded: int, stopping: threading.Event, fitting: list,
                   wait_s: float = 120.0) -> None:
    """Fit the baselines once the job has the demo's history and the first live alert is on
    screen (so the fit's JVM does not delay it), or after `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        if (collector.last.readings_processed or 0) >= seeded and (
                collector.alerts or time.monotonic() > deadline):
            break
        if stopping.wait(1.0):
            return
    collector.notices.append("demo: fitting the baselines (wattstream baseline)")
    try:
        with open(logs / "baseline.log", "ab") as log:
            collector.notices.append(history.fit(base, env, log, fitting))
    except Exception as exc:  # noqa: BLE001 - said on screen; the pipeline goes on
        collector.notices.append(f"demo: the baselines were not fitted: {exc}")


def _beside(more: Callable[[], object], collector: Collector, plain: bool,
            stopping: threading.Event, starting: threading.Event, wait_s: float = 120.0) -> None:
    # On two cores the JVMs of HDFS would slow the job's start, and the first alert with it:
    # they start once the job has taken in its first readings.
    deadline = time.monotonic() + wait_s
    while not collector.last.readings_processed and time.monotonic() < deadline:
        if stopping.wait(1.0):
            return
    try:
        more()
    except WattstreamError as exc:
        first = str(exc).splitlines()[0]
        collector.notices.append(first)
        if plain:
            print(f"wattstream local run: {exc}", file=sys.stderr, flush=True)
    finally:
        starting.clear()
    # The links name what is up now (Prometheus, once it is).
    collector.links = tuple(stack.view_links(collector.cfg, dict(collector.links).get("logs")))


def _start(name: str, argv: list[str], env: dict, log: Path, on_line) -> Child:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    child = Child(name, proc, log)
    threading.Thread(target=_pump, args=(child, proc.stdout, on_line), daemon=True).start()
    return child


def _pump(child: Child, stream: IO[bytes], on_line) -> None:
    with open(child.log, "a", encoding="utf-8") as fh:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            fh.write(line + "\n")
            fh.flush()
            on_line(child, line)


def _stop(child: Child) -> None:
    # Generator first (see run_pipeline) so the job can drain what was sent.
    p = child.proc
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _report_exits(children: dict[str, Child]) -> int:
    code = 0
    for c in children.values():
        if c.proc.returncode:
            code = 1
            print(f"{c.name} exited with {c.proc.returncode}; from the end of "
                  f"{shown_path(c.log.as_uri())}:\n{_errors(c.log)}", file=sys.stderr,
                  flush=True)
    return code


_ERROR = re.compile(r"Exception|Error|ERROR|FATAL")


def _errors(log: Path, lines: int = 8) -> str:
    """The error lines near the end of a log (the JVM's and Python's, without the traceback
    frames), or its last lines when none stands out."""
    try:
        tail = log.read_text(errors="replace").splitlines()[-300:]
    except OSError:
        return ""
    found = [x for x in tail if _ERROR.search(x) and not x.startswith((" ", "\t"))]
    return "\n".join(f"  {x}" for x in (found[-lines:] or tail[-15:]))


def final_windows(cfg: Config) -> int | None:
    """Rows in the final-windows Parquet folder when it is local; None otherwise."""
    from urllib.parse import urlparse

    uri = urlparse(layout.data(cfg, "windows"))
    if uri.scheme != "file":
        return None
    if not Path(uri.path).is_dir():
        return 0
    try:
        import pyarrow.dataset as ds

        return ds.dataset(uri.path, format="parquet", partitioning="hive").count_rows()
    except (OSError, ValueError):
        return None


def _print_summary(cfg: Config, collector: Collector, gen: dict, windows_before: int | None,
                   logs: Path) -> None:
    s = collector.last
    if gen:
        s = type(s)(**{**s.__dict__, "readings_sent": gen.get("acknowledged", gen.get("sent"))})
    after = final_windows(cfg)
    if after is None or windows_before is None:
        windows = "written to " + data_paths(cfg)["windows"]
    else:
        windows = (f"{after - windows_before:,} final windows written ({after:,} in all); a "
                   f"window is final once the watermark passes its end")
    paths = data_paths(cfg)
    print(render.summary(s, windows, [
        ("data", f"{paths['windows']}, {paths['alerts']} (Parquet); checkpoints "
                 f"{paths['checkpoints']}"),
        ("logs", shown_path(logs.as_uri()) + "/ (job.log holds Spark's and the JVM's output)"),
    ]), flush=True)
