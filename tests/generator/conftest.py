"""Fixtures of the generator's Kafka tests: fresh topics without a metrics server, a config file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wattstream.config import Config, to_dict


@pytest.fixture
def gen_cfg(unique_topics) -> Config:
    """Fresh topics, no metrics server, a short connect timeout."""
    return unique_topics.replace(metrics={"generator_port": 0},
                                 generator={"connect_timeout_seconds": 10.0})


@pytest.fixture
def config_file(tmp_path):
    def write(cfg: Config) -> Path:
        path = tmp_path / "wattstream.yaml"
        path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        return path

    return write
