"""`wattstream local run` (what `make run` calls): stack, generator and job come up, live windows
print, Ctrl-C stops everything it started and nothing acknowledged is lost on the way out."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from wattstream.local.procs import free_ports, pid_alive

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_run_prints_live_windows_and_stops_cleanly_on_ctrl_c(tmp_path):
    kafka_port, controller, job_port, gen_port = free_ports(4)
    cfg_file = tmp_path / "ws.yaml"
    cfg_file.write_text(yaml.safe_dump({
        "local": {"run_dir": str(tmp_path / "run"), "kafka_port": kafka_port,
                  "kafka_controller_port": controller, "hdfs": False, "prometheus": False},
        "storage": {"uri": str(tmp_path / "warehouse"),
                    "checkpoint_uri": str(tmp_path / "checkpoints")},
        "metrics": {"job_port": job_port, "generator_port": gen_port},
        "generator": {"buildings": 5, "interval_seconds": 0.5},
    }))
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
    assert not any(pid_alive(p) for p in pids)
    summary = next(json.loads(line.split("]", 1)[1]) for line in lines
                   if line.startswith("[generator]") and '"acknowledged"' in line)
    assert summary["sent"] == summary["acknowledged"] > 0
