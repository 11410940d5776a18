"""`wattstream job` and `wattstream baseline`."""

from __future__ import annotations


def register(subparsers) -> None:
    job = subparsers.add_parser(
        "job", help="run the streaming job (Kafka → windows, alerts, metrics) until stopped",
        description="Read readings from kafka.readings_topic and run the streaming queries: "
                    "final windows to <storage.uri>/windows, alerts to kafka.alerts_topic and "
                    "<storage.uri>/alerts, quarantine to kafka.dead_letter_topic, Prometheus "
                    "metrics on metrics.job_port. Stops cleanly on SIGTERM or Ctrl-C.")
    job.set_defaults(func=_job)
    base = subparsers.add_parser(
        "baseline", help="build the ABNORMAL_USAGE baseline from stored windows",
        description="Mean and standard deviation of window energy per building and hour of "
                    "week, from <storage.uri>/windows, written to alerts.baseline_uri.")
    base.set_defaults(func=_baseline)


def _job(args, cfg) -> int:
    from .main import run

    return run(cfg)


def _baseline(args, cfg) -> int:
    from . import baseline, session

    spark = session.build(cfg, app_name="wattstream-baseline", ui=False)
    try:
        n = baseline.build(spark, cfg)
    finally:
        spark.stop()
    print(f"baseline: {n} building/hour-of-week rows at {baseline.location(cfg)}")
    return 0
