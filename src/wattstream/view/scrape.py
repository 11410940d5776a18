"""Reading the job's and the generator's /metrics: the Prometheus text format, and rates from
the counters' recent history."""

from __future__ import annotations

import time
import urllib.request
from collections import deque
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

# sample name -> [(labels, value)]
Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return out


def scrape(url: str, timeout: float = 1.0) -> Samples | None:
    """The samples at `url`, or None when nothing answers (not started yet, or stopped)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own port
            return parse(resp.read().decode())
    except (OSError, ValueError):
        return None


def total(samples: Samples | None, name: str, **match: str) -> float | None:
    """Sum of the samples of `name` whose labels include `match`; None if there are none."""
    values = [v for labels, v in (samples or {}).get(name, [])
              if all(labels.get(k) == want for k, want in match.items())]
    return sum(values) if values else None


def by_label(samples: Samples | None, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, v in (samples or {}).get(name, []):
        if label in labels:
            out[labels[label]] = out.get(labels[label], 0.0) + v
    return out


class Rate:
    """Per-second rate of a counter over the last `horizon` seconds of observations."""

    def __init__(self, horizon: float = 15.0):
        self.horizon = horizon
        self.points: deque[tuple[float, float]] = deque()

    def add(self, value: float | None, now: float | None = None) -> None:
        if value is None:
            return
        now = time.monotonic() if now is None else now
        if self.points and value < self.points[-1][1]:
            self.points.clear()  # the process restarted: its counter began again
        self.points.append((now, value))
        while len(self.points) > 2 and now - self.points[1][0] >= self.horizon:
            self.points.popleft()

    def per_second(self) -> float | None:
        if len(self.points) < 2:
            return None
        (t0, v0), (t1, v1) = self.points[0], self.points[-1]
        return (v1 - v0) / (t1 - t0) if t1 > t0 else None


def ratio(num: Rate, den: Rate) -> float | None:
    """Δnum / Δden over the common history (e.g. a histogram's recent mean)."""
    if len(num.points) < 2 or len(den.points) < 2:
        return None
    dn = num.points[-1][1] - num.points[0][1]
    dd = den.points[-1][1] - den.points[0][1]
    return dn / dd if dd > 0 else None


def first(values: Iterable[float | None]) -> float | None:
    return next((v for v in values if v is not None), None)
