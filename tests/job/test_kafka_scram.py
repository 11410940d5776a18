"""SCRAM-SHA-512 end to end on a real broker: the generator's producer and the job's Spark Kafka
source authenticate with the same config keys; a wrong password is refused."""

import pytest

from wattstream import kafka_client
from wattstream.config import Config
from wattstream.local import kafka
from wattstream.local.procs import free_ports

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scram_cfg(tmp_path_factory):
    run = tmp_path_factory.mktemp("scram")
    port, controller, scram_port = free_ports(3)
    base = Config().replace(local={"kafka_port": port, "kafka_controller_port": controller})
    svc = kafka.start(base, run, scram_users={"app": "app-secret"}, scram_port=scram_port)
    (run / "password").write_text("app-secret\n")
    try:
        yield base.replace(kafka={"bootstrap_servers": f"127.0.0.1:{scram_port}",
                                  "security_protocol": "SASL_PLAINTEXT",
                                  "sasl_username": "app",
                                  "sasl_password_file": str(run / "password")}), run
    finally:
        svc.stop()


def test_producer_and_spark_source_authenticate(scram_cfg, spark):
    from kafka import KafkaProducer

    cfg, _ = scram_cfg
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, acks="all",
                             **kafka_client.python_kwargs(cfg.kafka))
    for i in range(5):
        producer.send(cfg.kafka.readings_topic, f"m{i}".encode(), key=b"b").get(30)
    producer.close()

    rows = (spark.read.format("kafka").options(**kafka_client.spark_options(cfg.kafka))
            .option("subscribe", cfg.kafka.readings_topic)
            .option("startingOffsets", "earliest").option("endingOffsets", "latest")
            .load().selectExpr("CAST(value AS STRING) AS v").collect())
    assert sorted(r.v for r in rows) == [f"m{i}" for i in range(5)]


def test_wrong_password_is_refused(scram_cfg):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    cfg, run = scram_cfg
    (run / "wrong").write_text("nope\n")
    bad = cfg.replace(kafka={"sasl_password_file": str(run / "wrong")})
    with pytest.raises(KafkaError):
        producer = KafkaProducer(bootstrap_servers=bad.kafka.bootstrap_servers,
                                 max_block_ms=10_000, **kafka_client.python_kwargs(bad.kafka))
        producer.send(bad.kafka.readings_topic, b"x").get(10)
