"""Kafka client security settings: one config, the same meaning for kafka-python and Spark."""

import pytest

from wattstream import kafka_client
from wattstream.config import ConfigError, from_dict
from wattstream.errors import WattstreamError


def test_plaintext_needs_nothing_more():
    k = from_dict({}).kafka
    assert kafka_client.python_kwargs(k) == {"security_protocol": "PLAINTEXT"}
    assert kafka_client.spark_options(k) == {"kafka.bootstrap.servers": "127.0.0.1:9092",
                                             "kafka.security.protocol": "PLAINTEXT"}


def test_scram_over_tls(tmp_path):
    pw = tmp_path / "password"
    pw.write_text('s3"cret\n')
    k = from_dict({"kafka": {"bootstrap_servers": "kafka:9093", "security_protocol": "SASL_SSL",
                             "sasl_username": "app", "sasl_password_file": str(pw),
                             "ssl_cafile": "/etc/ca.crt"}}).kafka
    assert kafka_client.python_kwargs(k) == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "app", "sasl_plain_password": 's3"cret', "ssl_cafile": "/etc/ca.crt"}
    opts = kafka_client.spark_options(k)
    assert opts["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="app" password="s3\\"cret";')
    assert opts["kafka.ssl.truststore.type"] == "PEM"
    assert opts["kafka.ssl.truststore.location"] == "/etc/ca.crt"


def test_sasl_without_credentials_names_the_key():
    with pytest.raises(ConfigError, match=r"^kafka.sasl_username: required"):
        from_dict({"kafka": {"security_protocol": "SASL_SSL"}})
    with pytest.raises(ConfigError, match=r"^kafka.sasl_password_file: required"):
        from_dict({"kafka": {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "a"}})
    with pytest.raises(ConfigError, match=r"^kafka.security_protocol: must be one of"):
        from_dict({"kafka": {"security_protocol": "KERBEROS"}})


def test_unreadable_password_file_is_a_clear_error(tmp_path):
    k = from_dict({"kafka": {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "a",
                             "sasl_password_file": str(tmp_path / "missing")}}).kafka
    with pytest.raises(WattstreamError, match=r"kafka.sasl_password_file: cannot read"):
        kafka_client.python_kwargs(k)
