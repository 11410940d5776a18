"""Helpers of the `local run` tests."""

from __future__ import annotations

import yaml

from wattstream.local.procs import free_ports


def run_config(tmp_path, **generator) -> str:
    """A config file for `local run` on free ports under `tmp_path`: Kafka only (no HDFS,
    Prometheus or Alertmanager), storage in the folder; `generator` overrides the generator's
    settings."""
    kafka_port, controller, job_port, gen_port = free_ports(4)
    path = tmp_path / "ws.yaml"
    path.write_text(yaml.safe_dump({
        "local": {"run_dir": str(tmp_path / "run"), "kafka_port": kafka_port,
                  "kafka_controller_port": controller, "hdfs": False, "prometheus": False,
                  "alertmanager": False},
        "storage": {"uri": str(tmp_path / "warehouse"),
                    "checkpoint_uri": str(tmp_path / "checkpoints")},
        "metrics": {"job_port": job_port, "generator_port": gen_port},
        **({"generator": generator} if generator else {}),
    }))
    return str(path)
