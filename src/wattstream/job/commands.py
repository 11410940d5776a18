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
        "baseline", help="fit each building's baseline model from stored windows",
        description="Fit a time-of-week-and-temperature model per building over "
                    "<storage.uri>/windows (Spark), score it on the last baseline.holdout_days "
                    "(ASHRAE Guideline 14: hourly CV(RMSE) and NMBE) and store the models as "
                    "the next version under baseline.uri; a running job takes it up within "
                    "baseline.poll_seconds. ABNORMAL_USAGE fires only for buildings whose "
                    "model passes.")
    base.set_defaults(func=_baseline)


def _job(args, cfg) -> int:
    from .main import run

    return run(cfg)


def _baseline(args, cfg) -> int:
    from .. import spark as session
    from . import baseline

    spark = session.build(cfg, app_name="wattstream-baseline", ui=False)
    try:
        table = baseline.build(spark, cfg)
    finally:
        spark.stop()
    print(baseline.summary(table, cfg))
    return 0
