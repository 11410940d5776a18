"""The local KRaft broker, for real: topics exist, messages go through, `up` twice is harmless."""

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from wattstream.local import kafka
from wattstream.local.procs import StackError

pytestmark = pytest.mark.integration


def test_topics_are_created_with_their_partitions(kafka_cfg):
    client = kafka.admin(kafka_cfg.kafka.bootstrap_servers)
    try:
        topics = {t["name"]: t for t in client.describe_topics()}
    finally:
        client.close()
    k = kafka_cfg.kafka
    assert {k.readings_topic, k.alerts_topic, k.dead_letter_topic} <= set(topics)
    assert len(topics[k.readings_topic]["partitions"]) == k.partitions


def test_produce_and_consume_round_trip(unique_topics):
    bootstrap = unique_topics.kafka.bootstrap_servers
    topic = unique_topics.kafka.readings_topic
    sent = {f"b-{i % 7}".encode(): [] for i in range(7)}
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(200):
        key = f"b-{i % 7}".encode()
        value = f"{key.decode()}:{i}".encode()
        producer.send(topic, value, key=key)
        sent[key].append(value)
    producer.flush(30)
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=15_000,
                             group_id=f"t-{uuid.uuid4()}")
    consumer.subscribe([topic])
    got: dict[bytes, list[bytes]] = {}
    for msg in consumer:
        got.setdefault(msg.key, []).append(msg.value)
        if sum(map(len, got.values())) == 200:
            break
    consumer.close()
    # Keyed messages keep their per-key order (one partition per key).
    assert got == sent


def test_second_start_reuses_the_running_broker(local_cfg, stack_dir, kafka_service):
    again = kafka.start(local_cfg, stack_dir)
    assert again.pid == kafka_service.pid


def test_port_in_use_is_a_clear_error(local_cfg, tmp_path, kafka_service):
    # A second broker on the port the first one holds.
    port = local_cfg.local.kafka_port
    with pytest.raises(StackError, match=rf"kafka port {port}\b.*already in use"):
        kafka.start(local_cfg, tmp_path)


def test_end_offsets_visible_to_admin(unique_topics):
    bootstrap = unique_topics.kafka.bootstrap_servers
    topic = unique_topics.kafka.alerts_topic
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topic, b"x", partition=0).get(30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        assert consumer.end_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)] == 1
    finally:
        consumer.close()


def test_cluster_ids_never_look_like_options(monkeypatch):
    import uuid as uuid_mod

    # The first UUID encodes to a string starting with '-' (0xf8 -> '-' in URL-safe base64).
    values = iter([uuid_mod.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid_mod.UUID(int=1)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(values))
    cid = kafka.cluster_id()
    assert not cid.startswith("-") and len(cid) == 22
