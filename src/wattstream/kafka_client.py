"""Kafka client security settings from `config.kafka`, in the two forms the project needs:
keyword arguments for kafka-python (generator, tools) and `kafka.*` options for Spark's source and
sink (job). One place, so both speak to a TLS/SCRAM listener the same way."""

from __future__ import annotations

import socket
from pathlib import Path

from .config import KafkaConfig
from .errors import WattstreamError

_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def _sasl(k: KafkaConfig) -> bool:
    return k.security_protocol.startswith("SASL_")


def _tls(k: KafkaConfig) -> bool:
    return k.security_protocol in ("SSL", "SASL_SSL")


def password(k: KafkaConfig) -> str:
    try:
        return Path(k.sasl_password_file).read_text().strip()
    except OSError as exc:
        raise WattstreamError(
            f"kafka.sasl_password_file: cannot read {k.sasl_password_file}: {exc.strerror}"
        ) from None


def python_kwargs(k: KafkaConfig) -> dict:
    """Security keyword arguments for kafka-python's producer, consumer and admin client."""
    out: dict = {"security_protocol": k.security_protocol}
    if _sasl(k):
        out.update(sasl_mechanism=k.sasl_mechanism, sasl_plain_username=k.sasl_username,
                   sasl_plain_password=password(k))
    if _tls(k) and k.ssl_cafile:
        out["ssl_cafile"] = k.ssl_cafile
    return out


def reachable(bootstrap_servers: str, timeout: float = 2.0) -> None:
    """A plain TCP connection to one of the brokers, or `ConnectionError` naming each: cheap,
    and it fails at once where a client would retry and log every refused connection."""
    errors = []
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
            return
        except OSError as exc:
            errors.append(f"{server}: {exc}")
    raise ConnectionError("; ".join(errors))


def spark_options(k: KafkaConfig) -> dict[str, str]:
    """`kafka.*` options for Spark's Kafka source and sink (bootstrap servers included)."""
    out = {"kafka.bootstrap.servers": k.bootstrap_servers,
           "kafka.security.protocol": k.security_protocol}
    if _sasl(k):
        user = k.sasl_username.replace("\\", "\\\\").replace('"', '\\"')
        pw = password(k).replace("\\", "\\\\").replace('"', '\\"')
        out["kafka.sasl.mechanism"] = k.sasl_mechanism
        out["kafka.sasl.jaas.config"] = (
            f'{_LOGIN_MODULES[k.sasl_mechanism]} required username="{user}" password="{pw}";')
    if _tls(k) and k.ssl_cafile:
        out["kafka.ssl.truststore.type"] = "PEM"
        out["kafka.ssl.truststore.location"] = k.ssl_cafile
    return out
