"""The generator's run modes: realtime, backfill and replay, all ending with a flushed producer and
a summary.

- realtime: one reading per building every interval, event time = wall time (or shifted to a
  start, e.g. the demo's busy hour, and then advancing at wall-clock speed).
- backfill: a span of event time (`--duration` / `--start` / `--count`) as fast as possible (or at
  `--rate` readings/s), with progress on stderr.
- replay: a canonical CSV/Parquet file, event time preserved, paced by `--speedup` (0 = no pacing).

While Kafka is away nothing is lost (producer.py, spool.py): realtime keeps its clock and puts
what the client cannot hold into the on-disk spool; backfill and replay wait. SIGTERM and SIGINT
stop the loop; what the client holds is flushed for a bounded time and whatever is still
unacknowledged goes to the spool, which the next start sends first. The summary (one JSON line on
stdout, and `--summary FILE`) accounts for every reading: acknowledged + spooled = produced +
drained (readings an earlier run left in the spool).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from ..config import Config
from ..errors import WattstreamError
from ..localtime import Calendar
from ..schema import Weather, format_timestamp
from . import demo as demo_mode
from .anomalies import KINDS
from .fleet import building_ids
from .metrics import GeneratorMetrics
from .producer import ReadingProducer
from .replay import BadRow, read_rows
from .simulate import Simulator
from .weather_files import read_weather

log = logging.getLogger(__name__)

REPLAY_CHUNK = 1000
MAX_BAD_ROWS_SHOWN = 20


@dataclass
class Options:
    mode: str = "realtime"  # realtime | backfill | replay
    replica: str = "r0"
    buildings: int = 20
    seed: int = 42
    interval_s: float = 5.0
    rate: float | None = None  # readings/s per replica
    duration_s: float | None = None
    count: int | None = None
    start: datetime | None = None
    kinds: tuple[str, ...] = KINDS
    anomaly_rate: float = 0.5
    labels: str | None = None
    input: str | None = None
    speedup: float = 1.0
    on_bad_row: str = "skip"
    summary: str | None = None
    progress: bool = True
    demo: bool = False  # realtime only: see demo.py
    demo_start: datetime | None = None  # None: the latest weekday 10:00 UTC
    weather_site: str = ""  # readings without weather; the site's to the weather topic
    weather_interval_s: float = 300.0
    weather_input: str | None = None  # replay: site weather sent in step with the readings
    demo_fleet: bool = False  # backfill: the demo's large buildings (its history), no spike


@dataclass
class Summary:
    mode: str
    replica: str
    topic: str
    buildings: int = 0
    sent: int = 0  # readings produced (kept for older readers of the summary)
    acknowledged: int = 0
    produced: int = 0  # readings made by this run
    spooled: int = 0  # readings left in the spool at exit (this run's or an earlier one's)
    drained: int = 0  # readings an earlier run left in the spool, taken over (sent first)
    spooled_max: int = 0  # the most readings the spool held during the run
    already_in_kafka: int = 0  # spooled by an earlier run, found in Kafka: not sent again
    send_errors: int = 0
    bad_rows: int = 0
    labels: int = 0
    weather: int = 0  # site weather observations sent (generator.weather_site)
    anomalies: dict[str, int] = field(default_factory=dict)
    first_event: str | None = None
    last_event: str | None = None
    seconds: float = 0.0
    readings_per_second: float = 0.0
    stopped_by_signal: bool = False
    first_error: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))


class Stop:
    """Set by SIGTERM/SIGINT; `wait` doubles as an interruptible sleep."""

    def __init__(self):
        self.event = threading.Event()
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum, _frame) -> None:
        self.signal = signum
        self.event.set()

    def __bool__(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(max(0.0, seconds))


class Clock:
    """Wall time and the realtime loop's sleep; a test passes a clock that jumps instead."""

    def __init__(self, stop: Stop):
        self.stop = stop

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> bool:
        """Sleep; True when a signal cut it short."""
        return self.stop.wait(seconds)


class Progress:
    """A stderr line every `every` seconds: readings, rate and (when known) percent done; on a
    terminal the line is redrawn in place."""

    def __init__(self, enabled: bool, mode: str, stream: IO[str] = sys.stderr,
                 every: float = 1.0):
        self.enabled, self.mode, self.stream, self.every = enabled, mode, stream, every
        self.t0 = time.monotonic()
        self.last = self.t0
        self.tty = hasattr(stream, "isatty") and stream.isatty() and every <= 1.0

    def update(self, done: int, fraction: float | None, event_ts: datetime | None,
               force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < self.every and not force):
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        bar = ""
        if fraction is not None:
            fraction = min(1.0, max(0.0, fraction))
            filled = int(fraction * 30)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:5.1f}% "
        at = f" at {format_timestamp(event_ts)}" if event_ts else ""
        line = f"{self.mode} {bar}{done:,} readings, {rate:,.0f}/s{at}"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")


class RateLimit:
    """Keeps the average at most `rate` readings/s since the start."""

    def __init__(self, rate: float | None, stop: Stop):
        self.rate, self.stop = rate, stop
        self.t0 = time.monotonic()

    def after(self, done: int) -> None:
        if self.rate:
            self.stop.wait(self.t0 + done / self.rate - time.monotonic())


def _aligned_now(dt_s: float, now: float) -> datetime:
    return datetime.fromtimestamp(math.ceil(now / dt_s) * dt_s, tz=UTC)


def run(cfg: Config, opts: Options, producer: ReadingProducer | None = None, *,
        clock: Clock | None = None, metrics: GeneratorMetrics | None = None) -> Summary:
    """Run one mode to its end (or a signal) and return the summary; the caller prints it."""
    metrics = metrics or GeneratorMetrics(opts.replica)
    stop = Stop()
    clock = clock or Clock(stop)
    labels_fh = None
    summary = Summary(opts.mode, opts.replica, cfg.kafka.readings_topic)
    t0 = time.monotonic()
    try:
        if opts.labels and opts.mode != "replay":
            try:
                Path(opts.labels).parent.mkdir(parents=True, exist_ok=True)
                labels_fh = open(opts.labels, "w")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise WattstreamError(f"--labels {opts.labels}: {exc.strerror}") from None
        if opts.mode == "replay":
            rows = _replay_rows(cfg, opts)  # check the file before connecting
        metrics.serve(cfg.metrics.host, cfg.metrics.generator_port)
        producer = producer or ReadingProducer(
            cfg, metrics, client_id=f"wattstream-gen-{opts.replica}",
            block=opts.mode != "realtime", stop=stop.event, replica=opts.replica,
            weather=bool(opts.weather_site or opts.weather_input))
        stop.install()
        log.info("generator %s: replica %s -> %s at %s", opts.mode, opts.replica,
                 cfg.kafka.readings_topic, cfg.kafka.bootstrap_servers)
        if opts.demo and opts.mode != "realtime":
            log.info("generator.demo applies to realtime only; %s runs without it", opts.mode)
        failure: WattstreamError | None = None
        try:
            if opts.mode == "replay":
                _replay(opts, producer, stop, summary, rows)
            else:
                _simulate(opts, producer, metrics, stop, summary, labels_fh, clock,
                          cfg.windows.length_seconds, Calendar(cfg))
        except WattstreamError as exc:  # spool full, or Kafka refused a record
            failure = exc
        finally:
            producer.close()
            _account(summary, producer)
        summary.stopped_by_signal = stop.signal is not None
        if failure is not None:
            err = WattstreamError(f"{failure}\n{_accounting(summary)}")
            err.summary = summary
            raise err from None
    finally:
        stop.restore()
        if labels_fh is not None:
            labels_fh.close()
        summary.seconds = round(time.monotonic() - t0, 3)
        summary.readings_per_second = round(summary.sent / max(summary.seconds, 1e-9), 1)
        if opts.summary:
            Path(opts.summary).write_text(summary.to_json() + "\n")
    return summary


def _account(summary: Summary, producer) -> None:
    summary.produced = summary.sent = producer.produced
    summary.acknowledged = producer.acked
    summary.spooled = producer.spooled
    summary.drained = producer.drained
    summary.spooled_max = producer.spooled_max
    summary.already_in_kafka = producer.already_in_kafka
    summary.send_errors = producer.failed
    summary.first_error = producer.first_error


def _accounting(s: Summary) -> str:
    return (f"every reading is accounted for: {s.acknowledged:,} acknowledged + {s.spooled:,} "
            f"in the spool = {s.produced:,} produced + {s.drained:,} from an earlier run's "
            f"spool")


def _simulate(opts: Options, producer: ReadingProducer, metrics: GeneratorMetrics, stop: Stop,
              summary: Summary, labels_fh: IO[str] | None, clock: Clock,
              window_s: int = 300, calendar: Calendar | None = None) -> None:
    ids = building_ids(opts.replica, opts.buildings)
    summary.buildings = len(ids)
    dt = opts.interval_s
    realtime = opts.mode == "realtime"
    demo = realtime and opts.demo
    # The demo's fleet (its large buildings) also in the demo's history (--demo-history).
    sim = Simulator(ids, opts.seed, opts.replica, opts.kinds, opts.anomaly_rate, labels_fh,
                    fixed=demo_mode.fixed(len(ids)) if demo or opts.demo_fleet else None,
                    with_weather=not opts.weather_site,
                    calendar=calendar)
    if demo:
        start, origin = (opts.start, "") if opts.start else _demo_start(opts, producer, clock,
                                                                         dt, window_s)
        log.info("%s", demo_mode.prepare(sim, start, dt, origin))
    elif realtime:
        start = opts.start or _aligned_now(dt, clock.time())
    else:
        span = opts.duration_s or (opts.count / len(ids) * dt if opts.count else None)
        if span is None:
            raise WattstreamError("backfill needs --duration or --count")
        start = opts.start or (_aligned_now(dt, clock.time()) - timedelta(seconds=span))
    steps = math.ceil(opts.duration_s / dt) if opts.duration_s else None
    expected = min(x for x in (opts.count, steps and steps * len(ids), math.inf) if x)
    # realtime runs for days: a line a minute is a heartbeat, not a progress bar
    progress = Progress(opts.progress, opts.mode, every=60.0 if realtime else 1.0)
    limiter = RateLimit(None if realtime else opts.rate, stop)
    keys = sim.encoder.keys
    # wall clock minus event time: 0 unless --start or the demo moved event time away from now
    wall0 = clock.time() - start.timestamp() if realtime and (opts.start or demo) else 0.0
    if realtime:
        metrics.event_offset.set(wall0)
    anomalies_seen: Counter[str] = Counter()
    k = 0
    while not stop and (steps is None or k < steps):
        ts = start + timedelta(seconds=k * dt)
        if realtime and clock.sleep(ts.timestamp() + wall0 - clock.time()):
            break
        batch = sim.step(k, ts, dt)
        values = sim.encoder.encode(batch)
        if opts.count is not None and summary.sent + len(values) >= opts.count:
            values = values[: opts.count - summary.sent]
        producer.send_many([keys[i] for i in batch.index[: len(values)]], values)
        if opts.weather_site and _weather_due(ts, dt, opts.weather_interval_s):
            producer.send_weather(Weather(opts.weather_site, ts, batch.site_temperature,
                                          batch.site_humidity))
            summary.weather += 1
        if values:
            summary.first_event = summary.first_event or format_timestamp(ts)
            summary.last_event = format_timestamp(ts)
        summary.sent += len(values)
        for kind, n in sim.injector.started.items():
            metrics.anomalies(kind, n - anomalies_seen[kind])
            anomalies_seen[kind] = n
        k += 1
        progress.update(summary.sent, summary.sent / expected if expected != math.inf else None,
                        ts)
        if opts.count is not None and summary.sent >= opts.count:
            break
        limiter.after(summary.sent)
    sim.finish()
    progress.update(summary.sent, None, None, force=True)
    progress.done()
    summary.labels = len(sim.injector.labels)
    summary.anomalies = dict(sim.injector.started)


def _weather_due(ts: datetime, dt: float, every_s: float) -> bool:
    """True for the step (t - dt, t] in which a multiple of `every_s` since the epoch falls."""
    t = ts.timestamp()
    return math.floor(t / every_s) != math.floor((t - dt) / every_s)


def _demo_start(opts: Options, producer: ReadingProducer, clock: Clock, dt: float,
                window_s: int) -> tuple[datetime, str]:
    now = clock.time()
    latest = producer.latest_reading()
    # A fleet that still sends has sent within a few intervals; quieter than that (and a
    # minute) the topic's clock belongs to an earlier run.
    idle = latest is not None and now - latest[1] > max(60.0, 3 * dt)
    return demo_mode.start(opts.demo_start, now, latest and latest[0],
                           window_s if idle else None)


def _replay_rows(cfg: Config, opts: Options):
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(cfg.schema.timezone) if cfg.schema.timezone else None
    if opts.on_bad_row == "reject":
        bad = [r for r in read_rows(opts.input, tz) if isinstance(r, BadRow)]
        if bad:
            shown = "\n".join(f"  {b}" for b in bad[:MAX_BAD_ROWS_SHOWN])
            more = f"\n  … and {len(bad) - MAX_BAD_ROWS_SHOWN} more" \
                if len(bad) > MAX_BAD_ROWS_SHOWN else ""
            raise WattstreamError(
                f"replay file {opts.input}: {len(bad)} row(s) break the schema; nothing was "
                f"sent (use --on-bad-row skip to send the rest):\n{shown}{more}")
    return read_rows(opts.input, tz)


def _replay(opts: Options, producer: ReadingProducer, stop: Stop, summary: Summary,
            rows) -> None:
    progress = Progress(opts.progress, "replay")
    limiter = RateLimit(opts.rate, stop)
    keys: list[bytes] = []
    values: list[bytes] = []
    buildings: set[str] = set()
    first_ts: datetime | None = None
    wall0 = time.monotonic()

    weather = deque(read_weather(opts.weather_input)) if opts.weather_input else deque()

    def flush() -> None:
        producer.send_many(keys, values)
        summary.sent += len(values)
        keys.clear()
        values.clear()
        limiter.after(summary.sent)

    for item in rows:
        if stop:
            break
        if isinstance(item, BadRow):
            summary.bad_rows += 1
            print(f"wattstream generate: skipped {opts.input} {item}", file=sys.stderr)
            continue
        ts = item.timestamp
        while weather and weather[0].timestamp <= ts:  # the weather up to this reading first
            producer.send_weather(weather.popleft())
            summary.weather += 1
        if first_ts is None:
            first_ts = ts
            summary.first_event = format_timestamp(ts)
        offset = (ts - first_ts).total_seconds()
        if opts.duration_s is not None and offset >= opts.duration_s:
            break
        if opts.speedup > 0:
            delay = wall0 + offset / opts.speedup - time.monotonic()
            if delay > 0:
                flush()  # what is due now goes out before sleeping
                if stop.wait(delay):
                    break
        keys.append(item.building_id.encode())
        values.append(item.to_json())
        buildings.add(item.building_id)
        summary.last_event = format_timestamp(ts)
        if len(values) >= REPLAY_CHUNK:
            flush()
        if opts.count is not None and summary.sent + len(values) >= opts.count:
            break
        progress.update(summary.sent + len(values), None, ts)
    flush()
    progress.update(summary.sent, None, None, force=True)
    progress.done()
    summary.buildings = len(buildings)
