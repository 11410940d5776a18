"""Reading a topic back completely (the generator's and the fault tests)."""

from __future__ import annotations

import time

from wattstream.config import Config


def consume_all(cfg: Config, timeout: float = 30.0, topic: str | None = None) -> list:
    """Every record of a topic (default: the readings topic), up to the end offsets seen when
    called."""
    from kafka import KafkaConsumer, TopicPartition

    topic = topic or cfg.kafka.readings_topic
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
