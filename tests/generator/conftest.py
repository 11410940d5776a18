"""Helpers for the generator's Kafka tests: read a topic back completely, write a config file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from wattstream.config import Config, to_dict


def consume_all(cfg: Config, timeout: float = 30.0) -> list:
    """Every record of the readings topic, up to the end offsets seen when called."""
    from kafka import KafkaConsumer, TopicPartition

    topic = cfg.kafka.readings_topic
    consumer = KafkaConsumer(bootstrap_servers=cfg.kafka.bootstrap_servers, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        records = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in parts):
            assert time.monotonic() < deadline, "topic not read to its end in time"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


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
