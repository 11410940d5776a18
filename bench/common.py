"""What every benchmark script reports the same way: the machine it ran on, and its results
as JSON under bench/results/ followed by its table on stdout."""

from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:  # not Linux: keep it
        cpu = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), cpu)
    return {"cpus": os.cpu_count(), "cpu": cpu,
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                / 2**30, 1),
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version()}


def describe(m: dict) -> str:
    return f"{m['cpus']} cores ({m['cpu']}), {m['memory_gib']} GiB"


def finish(results: dict, out: str, table: Callable[[dict], str]) -> int:
    """Record the closing load average, write the JSON, print the table."""
    results["load_average_end"] = os.getloadavg()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    return 0
