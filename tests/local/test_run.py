"""`wattstream local run` (what `make run` calls) without a terminal: stack, generator and job
come up, their own lines print as plain text (live windows; the JVM's start-up only in job.log),
Ctrl-C stops everything it started with a summary, and nothing acknowledged is lost on the
way out."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from runkit import run_config

from wattstream.local.procs import pid_alive

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_run_prints_live_windows_and_stops_cleanly_on_ctrl_c(tmp_path):
    cfg_file = run_config(tmp_path, buildings=5, interval_seconds=0.5)
    proc = subprocess.Popen(
        [sys.executable, "-m", "wattstream", "--config", str(cfg_file), "local", "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not any(line.startswith("[job") and "[live]" in line for line in lines):
            assert proc.poll() is None, "".join(lines[-40:])
            assert time.monotonic() < deadline, "no live window within 240 s:\n" + "".join(
                lines[-40:])
            time.sleep(0.5)
        pids = [int((tmp_path / "run" / "pids" / "kafka.pid").read_text())]
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        proc.wait(timeout=120)
        reader.join(timeout=10)
    out = "".join(lines)
    assert proc.returncode == 0, out[-4000:]
    assert "stopped: kafka" in out
    assert "\x1b" not in out  # no escape codes where a terminal is missing
    jvm = ("NativeCodeLoader", "log4j", "incubator modules", "Setting default log level")
    assert not [w for w in jvm if w in out]
    assert "log4j" in (tmp_path / "run" / "logs" / "job.log").read_text()
    assert re.search(r"^wattstream ran \d\d:\d\d\n  readings +[\d,]+ sent", out, re.M), out[-2000:]
    assert not any(pid_alive(p) for p in pids)
    summary = next(json.loads(line.split("]", 1)[1]) for line in lines
                   if line.startswith("[generator]") and '"acknowledged"' in line)
    assert summary["sent"] == summary["acknowledged"] > 0
