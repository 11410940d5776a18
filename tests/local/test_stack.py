"""`wattstream local up|status|down` end to end through the CLI: all three services healthy,
a second `up` harmless, `down` leaves no process behind."""

import subprocess
import sys

import pytest
import yaml

from wattstream.local.procs import free_ports, pid_alive

pytestmark = pytest.mark.integration


def _cli(cfg_file, *args, check=True):
    res = subprocess.run([sys.executable, "-m", "wattstream", "--config", str(cfg_file), *args],
                         capture_output=True, text=True, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"wattstream {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    return res


def _status(cfg_file):
    out = _cli(cfg_file, "local", "status", check=False).stdout.splitlines()[1:]
    return {line.split()[0]: (line.split()[1], line.split()[2]) for line in out}


def test_up_status_down(tmp_path):
    ports = ["kafka_port", "kafka_controller_port", "hdfs_port", "hdfs_http_port",
             "datanode_port", "datanode_http_port", "datanode_ipc_port", "prometheus_port",
             "alertmanager_port", "receiver_port"]
    cfg_file = tmp_path / "ws.yaml"
    cfg_file.write_text(yaml.safe_dump(
        {"local": {"run_dir": str(tmp_path / "run"),
                   **dict(zip(ports, free_ports(len(ports)), strict=True))}}))
    try:
        _cli(cfg_file, "local", "up")
        first = _status(cfg_file)
        assert {name: state for name, (state, _) in first.items()} == {
            "kafka": "healthy", "hdfs-namenode": "healthy", "hdfs-datanode": "healthy",
            "prometheus": "healthy", "alertmanager": "healthy", "receiver": "healthy"}
        pids = [int(pid) for _, pid in first.values()]

        again = _cli(cfg_file, "local", "up")
        assert "nothing (already running)" in again.stdout
        assert _status(cfg_file) == first
    finally:
        down = _cli(cfg_file, "local", "down")
    assert ("stopped: prometheus, alertmanager, receiver, hdfs-datanode, hdfs-namenode, "
            "kafka") in down.stdout
    assert not any(pid_alive(p) for p in pids)
    assert {state for state, _ in _status(cfg_file).values()} == {"stopped"}
    assert "nothing was running" in _cli(cfg_file, "local", "down").stdout
