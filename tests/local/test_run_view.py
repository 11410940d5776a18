"""`wattstream local run` in a real pseudo-terminal, as `make run` in a terminal: the live view
comes up with the header and the fleet table, an alert is on screen within two minutes of the
start with the default fleet and thresholds (the demo), the real Alertmanager's notification of
it reaches the local receiver and the view, nothing of the JVM's start-up reaches the screen,
and Ctrl-C ends with the summary and everything stopped."""

import contextlib
import os
import re
import sys
import time

import pytest
from runkit import run_config

from wattstream.local.procs import pid_alive

pexpect = pytest.importorskip("pexpect")
pytestmark = [pytest.mark.integration, pytest.mark.slow]

# What the JVM and Spark print at start; job.log gets it, the console must not.
JVM_LINES = ("NativeCodeLoader", "log4j", "incubator modules", "Setting default log level",
             "sc.setLogLevel")
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>78])")
# The bound; a slower machine (or one busy with other work) may raise it.
FIRST_ALERT_S = float(os.environ.get("WATTSTREAM_FIRST_ALERT_S", "120"))


def test_run_in_a_terminal_shows_the_view_and_an_alert_within_two_minutes(tmp_path):
    cfg = run_config(tmp_path, alertmanager=True)  # the default fleet, interval, thresholds
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}
    t0 = time.monotonic()
    child = pexpect.spawn(sys.executable, ["-m", "wattstream", "--config", cfg, "local", "run"],
                          env=env, dimensions=(45, 120), encoding="utf-8",
                          codec_errors="replace", timeout=240)
    seen: list[str] = []
    child.logfile_read = _Collect(seen)
    try:
        wait_for(child, seen, r"wattstream live · ", 180)
        give_up = t0 + FIRST_ALERT_S + 60
        wait_for(child, seen, r"fleet: 20 buildings by energy", give_up - time.monotonic())
        wait_for(child, seen, r"\d\d:\d\d:\d\d +(HIGH_CONSUMPTION|PEAK_DEMAND) +r0-b00000",
                 give_up - time.monotonic())
        first_alert = time.monotonic() - t0
        print(f"first alert on screen {first_alert:.0f} s after the start")
        assert first_alert <= FIRST_ALERT_S, f"first alert after {first_alert:.0f} s"
        # Alertmanager routed it (critical or warning receiver) and the view says so.
        wait_for(child, seen, r"(HIGH_CONSUMPTION|PEAK_DEMAND) +r0-b00000 .* \d\d:\d\d:\d\d → "
                 r"facilities", 60)
        print(f"notification on screen {time.monotonic() - t0:.0f} s after the start")
        # The demo's history gives baselines: fitted beside the pipeline after the first
        # alert, then taken up by the running job, whose expected energy the fleet shows.
        wait_for(child, seen, r"baseline v1 fitted from the demo's history", 240)
        wait_for(child, seen, r"people +expected(?! \(no baseline\))", 90)
        print(f"baseline in the view {time.monotonic() - t0:.0f} s after the start")
        kafka_pid = int((tmp_path / "run" / "pids" / "kafka.pid").read_text())
    finally:
        child.sendintr()  # Ctrl-C in the terminal
        child.expect(pexpect.EOF, timeout=150)
        child.close()
    screen = ANSI.sub("", "".join(seen))
    assert child.exitstatus == 0, screen[-3000:]
    for line in ("wattstream live", "demo: r0-b00000 a 36,000 m² hospital", "after reading",
                 "alerts, latest first", "notified (webhook)", "Ctrl-C stops everything"):
        assert line in screen
    assert re.search(r"baseline v1 fitted from the demo's history: \d+ of 20 buildings pass",
                     screen)
    # The history's alerts are stored, not shown: every alert on screen is from the live run.
    assert "days of history sent first" in screen
    summary = screen[screen.index("wattstream ran"):]
    assert re.search(r"alerts +[1-9]\d* \(.*HIGH_CONSUMPTION", summary), summary
    assert re.search(r"notified +[1-9]\d* notifications \(.*facilities", summary), summary
    assert re.search(r"stopped: (alertmanager, receiver, )?kafka", summary), summary
    assert not any(w in screen for w in JVM_LINES), [w for w in JVM_LINES if w in screen]
    logs = tmp_path / "run" / "logs"
    job_log = (logs / "job.log").read_text()
    assert "log4j" in job_log and "[job] reading energy_data" in job_log
    assert not any("\x1b" in f.read_text(errors="replace") for f in logs.glob("*.log"))
    assert not pid_alive(kafka_pid)


def wait_for(child, seen: list[str], pattern: str, timeout: float) -> None:
    """Read the terminal until `pattern` shows in its text (escape codes removed)."""
    rx, deadline = re.compile(pattern), time.monotonic() + timeout
    while not rx.search(ANSI.sub("", "".join(seen[-400:]))):
        assert time.monotonic() < deadline, (
            f"{pattern!r} not on screen within {timeout:.0f} s:\n"
            + ANSI.sub("", "".join(seen[-200:]))[-3000:])
        with contextlib.suppress(pexpect.TIMEOUT):  # nothing new this half second
            child.read_nonblocking(65536, timeout=0.5)


class _Collect:
    """A file-like sink for pexpect's output (its `logfile_read`)."""

    def __init__(self, into: list[str]):
        self.into = into

    def write(self, data: str) -> None:
        self.into.append(data)

    def flush(self) -> None:
        """Nothing is buffered: `write` keeps every chunk at once."""
