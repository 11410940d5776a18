"""Helpers of the `local run` tests."""

from __future__ import annotations

import yaml

from wattstream.local.procs import free_ports


def run_config(tmp_path, alertmanager: bool = False, **generator) -> str:
    """A config file for `local run` on free ports under `tmp_path`: Kafka only (no HDFS or
    Prometheus; Alertmanager and its receiver with `alertmanager`), storage in the folder;
    `generator` overrides the generator's settings."""
    kafka_port, controller, job_port, gen_port, am_port, rcv_port = free_ports(6)
    path = tmp_path / "ws.yaml"
    path.write_text(yaml.safe_dump({
        "local": {"run_dir": str(tmp_path / "run"), "kafka_port": kafka_port,
                  "kafka_controller_port": controller, "hdfs": False, "prometheus": False,
                  "alertmanager": alertmanager, "alertmanager_port": am_port,
                  "receiver_port": rcv_port},
        "storage": {"uri": str(tmp_path / "warehouse"),
                    "checkpoint_uri": str(tmp_path / "checkpoints")},
        "metrics": {"job_port": job_port, "generator_port": gen_port},
        **({"generator": generator} if generator else {}),
    }))
    return str(path)
