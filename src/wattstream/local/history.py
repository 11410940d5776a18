"""The demo's history: weeks of the demo fleet before the demo's start, so that `make run`
shows the analytics that need a past (expected energy, ABNORMAL_USAGE, PEAK_AT_RISK) from its
first minutes.

On a fresh readings topic, `local run` with the demo on:

  1. backfills `local.demo_history_days` of the demo fleet (its large buildings, no anomalies)
     ending where the demo starts, one reading per window per building
     (`wattstream generate backfill --demo-history`), before the job and the realtime
     generator start; the job stores the history's alerts but does not send or show them
     (`alerts.quiet_before`);
  2. once the job has taken the history in and the first live alert is on screen (or two
     minutes have passed), fits the baselines (`wattstream baseline`) beside the pipeline;
     the job takes the new model version up within `baseline.poll_seconds`.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timedelta

from ..config import Config
from ..errors import WattstreamError


def topic_is_empty(cfg: Config) -> bool:
    """True when the readings topic holds no message (a fresh stack)."""
    from kafka import KafkaConsumer, TopicPartition

    topic = cfg.kafka.readings_topic
    consumer = KafkaConsumer(bootstrap_servers=cfg.kafka.bootstrap_servers.split(","),
                             enable_auto_commit=False, request_timeout_ms=10_000)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        return not tps or sum(consumer.end_offsets(tps).values()) == 0
    finally:
        consumer.close()


def backfill(cfg: Config, base: list[str], env: dict, log) -> tuple[int, str]:
    """Send the history (`generate backfill --demo-history`); returns the readings sent and
    the time just after the last of them (where the demo starts)."""
    days = cfg.local.demo_history_days
    argv = base + ["--log-level", "WARNING", "generate", "backfill", "--demo-history",
                   str(days), "--interval", str(cfg.windows.length_seconds), "--anomalies",
                   "none", "--no-progress"]
    res = subprocess.run(argv, env={**env, "WATTSTREAM_GENERATOR__LABELS_PATH": ""},
                         stdout=subprocess.PIPE, stderr=log, text=True)
    if res.returncode != 0:
        raise WattstreamError(f"the demo's history could not be sent (see {log.name})")
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    last = datetime.fromisoformat(summary["last_event"].replace("Z", "+00:00"))
    end = last + timedelta(seconds=cfg.windows.length_seconds)
    return summary["acknowledged"], end.isoformat()


def fit(base: list[str], env: dict, log, running: list) -> str:
    """`wattstream baseline` (its process in `running` while it runs, for whoever stops the
    stack); returns what it says of the version and the pass rate."""
    proc = subprocess.Popen(base + ["baseline"], env=env, stdout=subprocess.PIPE, stderr=log,
                            text=True, start_new_session=True)
    running.append(proc)
    try:
        out, _ = proc.communicate()
    finally:
        running.remove(proc)
    if proc.returncode != 0:
        raise WattstreamError(f"wattstream baseline failed (see {log.name})")
    version = re.match(r"baseline (v\d+)", out.strip())
    passing = re.search(r"(\d+) of (\d+) pass", out)
    what = (f"{passing.group(1)} of {passing.group(2)} buildings pass ASHRAE Guideline 14"
            if passing else "see the job's log")
    return f"baseline {version.group(1) if version else ''} fitted from the demo's history: {what}"
