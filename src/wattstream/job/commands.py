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
                    "model passes. Prints a table of every building (status, CV(RMSE), "
                    "NMBE, training period, why not).")
    base.add_argument("--show", action="store_true",
                      help="print the newest stored version instead of fitting a new one")
    base.add_argument("--json", action="store_true",
                      help="print {version, file, buildings: [...]} as JSON, for scripts")
    base.add_argument("--building", action="append", metavar="ID",
                      help="only this building (repeatable)")
    base.set_defaults(func=_baseline)


def _job(args, cfg) -> int:
    from .main import run

    return run(cfg)


def _baseline(args, cfg) -> int:
    import json

    from .. import spark as session
    from ..errors import WattstreamError
    from ..files import Files
    from . import baseline

    spark = session.build(cfg, app_name="wattstream-baseline", ui=False)
    try:
        if args.show:
            files = Files(spark)
            found = baseline.versions(files, cfg)
            if not found:
                raise WattstreamError(f"baseline.uri: no model version under "
                                      f"{baseline.location(cfg)} yet; run `wattstream "
                                      "baseline` to fit one")
            table = baseline.read(files, cfg, found[-1]).table
        else:
            table = baseline.build(spark, cfg)
    finally:
        spark.stop()
    records = baseline.buildings(table, args.building)
    version = int(table["version"].iloc[0])
    if args.json:
        print(json.dumps({"version": version, "file": baseline.model_file(cfg, version),
                          "buildings": records}, indent=1))
        return 0
    print(baseline.summary(table, cfg))
    print(baseline.building_table(records))
    return 0
