"""The live view as plain lines, for a pipe or `--plain`: new alerts as they arrive, the job's
state when it changes, a status line every few seconds (`wattstream watch --plain`)."""

from __future__ import annotations

import time


def watch(collector, status_every: float = 10.0) -> None:
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
