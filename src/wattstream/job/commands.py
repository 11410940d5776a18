"""`wattstream job`."""

from __future__ import annotations


def register(subparsers) -> None:
    job = subparsers.add_parser(
        "job", help="run the streaming job (Kafka → windows, alerts, metrics) until stopped",
        description="Read readings from kafka.readings_topic and run the streaming queries: "
                    "final windows to <storage.uri>/windows, alerts to kafka.alerts_topic and "
                    "<storage.uri>/alerts, quarantine to kafka.dead_letter_topic, Prometheus "
                    "metrics on metrics.job_port. Stops cleanly on SIGTERM or Ctrl-C.")
    job.set_defaults(func=_job)


def _job(args, cfg) -> int:
    from .main import run

    return run(cfg)
