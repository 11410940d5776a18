"""Records the spool marks uncertain (in flight when Kafka went away, written without their
acknowledgement) are looked up in the topic at the next start and not sent twice."""

from __future__ import annotations

import json
import time

import pytest
from gen_kafka_util import consume_all

from wattstream.generator.run import Options, run
from wattstream.generator.spool import READING, Spool, SpoolRecord

pytestmark = pytest.mark.integration


def test_uncertain_head_records_already_in_kafka_are_skipped_the_rest_sent_first(gen_cfg,
                                                                               tmp_path):
    from kafka import KafkaProducer

    spool_dir = tmp_path / "spool"
    cfg = gen_cfg.replace(generator={"spool_dir": str(spool_dir)})
    topic = cfg.kafka.readings_topic
    t0 = int(time.time() * 1000) - 60_000
    recs = [SpoolRecord(READING, t0 + i, topic, b"old-b0", json.dumps({"n": i}).encode())
            for i in range(20)]
    with Spool(spool_dir, cfg.generator.spool_max_bytes) as spool:
        spool.append(recs)
    # the earlier run's first 8 reached the broker, their acknowledgements did not
    p = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers)
    for r in recs[:8]:
        p.send(topic, key=r.key, value=r.value, timestamp_ms=r.ts_ms)
    p.flush(30)
    p.close()
    (spool_dir / "uncertain.json").write_text(json.dumps(
        {"count": 10, "topics": {topic: {"since_ms": t0, "after": {}}}}))
    summary = run(cfg, Options(mode="backfill", buildings=1, count=5, interval_s=60.0,
                               kinds=(), progress=False))
    assert summary.already_in_kafka == 8 and summary.drained == 12
    assert summary.acknowledged == 12 + 5 and summary.spooled == 0
    assert summary.acknowledged + summary.spooled == summary.produced + summary.drained
    values = [r.value for r in consume_all(cfg)]
    assert len(values) == len(set(values)) == 25  # each once
    old = [json.loads(v)["n"] for v in values if b'"n"' in v]
    assert old == list(range(20))  # one key, one partition: in order, nothing twice
    assert not (spool_dir / "uncertain.json").exists()
