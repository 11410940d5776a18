"""`wattstream baseline`."""

from __future__ import annotations


def register(subparsers) -> None:
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


def _baseline(args, cfg) -> int:
    import json

    from .. import spark as session
    from ..errors import WattstreamError
    from ..files import Files
    from . import fit, models

    spark = session.build(cfg, app_name="wattstream-baseline", ui=False)
    try:
        if args.show:
            files = Files(spark)
            found = models.versions(files, cfg)
            if not found:
                raise WattstreamError(f"baseline.uri: no model version under "
                                      f"{models.location(cfg)} yet; run `wattstream "
                                      "baseline` to fit one")
            table = models.read(files, cfg, found[-1]).table
        else:
            table = fit.build(spark, cfg)
    finally:
        spark.stop()
    records = fit.buildings(table, args.building)
    version = int(table["version"].iloc[0])
    if args.json:
        print(json.dumps({"version": version, "file": models.model_file(cfg, version),
                          "buildings": records}, indent=1))
        return 0
    print(fit.summary(table, cfg))
    print(fit.building_table(records))
    return 0
