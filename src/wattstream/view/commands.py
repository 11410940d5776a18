"""`wattstream watch`: the live view of a pipeline that is already running (e.g. `make up` and
a job started by hand), from its /metrics and the alerts topic."""

from __future__ import annotations

import time


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "watch", help="live view of a running pipeline: fleet, alerts, throughput (Ctrl-C quits)",
        description="Reads the job's and the generator's /metrics (metrics.job_port, "
                    "metrics.generator_port) and kafka.alerts_topic. Without a terminal (or "
                    "with --plain) it prints alert lines and a status line instead.")
    p.add_argument("--plain", action="store_true", help="plain lines, no full-screen view")
    p.add_argument("--since", type=float, default=10.0, metavar="MINUTES",
                   help="show alerts of the last MINUTES (default 10)")
    p.set_defaults(func=_watch)


def _watch(args, cfg) -> int:
    from ..local import stack
    from .collect import Collector
    from .live import interactive, links, show

    running = dict(stack.running(cfg))
    collector = Collector(cfg, time.time() - args.since * 60,
                          services=lambda: stack.running(cfg),
                          links=links(cfg, running.get("prometheus", False)))
    try:
        if args.plain or not interactive():
            _plain(collector)
        else:
            show(collector)
    except KeyboardInterrupt:
        pass
    finally:
        collector.close()
    return 0


def _plain(collector, status_every: float = 10.0) -> None:
    """New alerts as they arrive, the job's state when it changes (a job waiting for Kafka is
    said so, attempt by attempt, and watched on) and a status line every `status_every`
    seconds."""
    seen = 0
    last_status = 0.0
    job_key: tuple | None = None
    while True:
        s = collector.snapshot()
        job_key = job_line(s.job, job_key)
        fresh = collector.alerts_seen - seen
        seen = collector.alerts_seen
        for a in reversed(s.alerts[:fresh]):
            print(f"[alert] {a.type} {a.building} at {a.event_time}: {a.value:.1f} kWh "
                  f"> {a.threshold:.1f}" + (f" (+{a.delay_s:.1f} s)" if a.delay_s is not None
                                             else ""), flush=True)
        if time.monotonic() - last_status >= status_every:
            last_status = time.monotonic()
            top = s.buildings[0] if s.buildings else None
            print(f"[status] {len(s.buildings)} buildings, readings in "
                  f"{s.readings_in_per_s or 0:.1f}/s, processed {s.processed_per_s or 0:.1f}/s, "
                  f"alerts {sum(s.alert_counts.values())}"
                  + (f", top {top.id} {top.energy_kwh:.1f} kWh" if top else "")
                  + (f", job {s.job.state}" if s.job else ""), flush=True)
        time.sleep(1.0)


def job_line(job, last: tuple | None) -> tuple | None:
    """Print a `[job]` line when the job's state, outage or attempt changed since `last`;
    returns the new key."""
    from .render import job_status_text

    key = (job.state, job.since, job.attempt) if job else None
    if key != last and (job or last):
        text = job_status_text(job).removeprefix("job: ") if job else \
            "its /metrics does not answer"
        print(f"[job] {text}", flush=True)
    return key
