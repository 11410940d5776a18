"""`wattstream generate [MODE]`: realistic building readings into Kafka.

    wattstream generate                                   # realtime, settings from the config
    wattstream generate backfill --duration 7d --labels labels.jsonl
    wattstream generate replay --input meters.parquet --speedup 3600
    wattstream generate convert --dataset cambridge --output cambridge.parquet
    wattstream generate convert --dataset meters --source export/ --output meters.csv
    wattstream generate thresholds >> wattstream.yaml     # alerts.buildings for small buildings
    wattstream generate buildings --output buildings.csv  # the fleet's types and floor areas
    wattstream generate buildings --dataset cambridge --output buildings.csv
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path

import yaml

from ..errors import WattstreamError
from ..schema import InvalidReading, parse_timestamp
from .anomalies import KINDS, parse_kinds

MODES = ("realtime", "backfill", "replay", "convert", "thresholds", "buildings")
METADATA_COLUMNS = ("building_id", "type", "floor_area_m2")  # what `report --buildings` reads
DATASETS = ("cambridge", "meters")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# A slice of the Cambridge archive shipped as package data, so convert works from any directory.
CAMBRIDGE_SLICE = Path(__file__).resolve().parent / "data" / "cambridge_estates_2019"


def parse_duration(text: str) -> float:
    """`90`, `90s`, `15m`, `2h`, `7d`, `1w` → seconds (> 0)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not m or float(m.group(1)) <= 0:
        raise WattstreamError(f"--duration {text!r}: expected a positive number with an optional "
                              f"unit s, m, h, d or w (e.g. 2h)")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def _start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except InvalidReading as exc:
        raise WattstreamError(f"--start: {exc}") from None


def _demo_history(g, days: float) -> datetime:
    """Where the demo's history starts: `days` before the demo would start now."""
    import time
    from datetime import timedelta

    from . import demo

    if days <= 0:
        raise WattstreamError(f"--demo-history must be > 0 days, got {days:g}")
    first, _ = demo.start(parse_timestamp(g.demo_start) if g.demo_start else None, time.time())
    return first - timedelta(days=days)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="produce building readings to Kafka (realtime, backfill, replay)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", default="realtime", choices=MODES,
                   help="what to do (default: realtime)")
    fleet = p.add_argument_group("fleet (realtime, backfill, thresholds, buildings)")
    fleet.add_argument("--buildings", type=int, metavar="N",
                       help="buildings of this replica (default: generator.buildings)")
    fleet.add_argument("--replica-id", metavar="ID",
                       help="replica identity namespacing the building ids (default: $POD_NAME, "
                            "$HOSTNAME in a pod, generator.replica_id, else r0)")
    fleet.add_argument("--seed", type=int, help="model seed (default: generator.seed)")
    fleet.add_argument("--interval", type=float, metavar="SECONDS",
                       help="event-time spacing of a building's readings "
                            "(default: generator.interval_seconds)")
    fleet.add_argument("--anomalies", metavar="KINDS",
                       help=f"all, none, or a comma list of {', '.join(KINDS)} "
                            f"(default: generator.anomaly_kinds)")
    fleet.add_argument("--anomaly-rate", type=float, metavar="PER_DAY",
                       help="anomalies per building and day (default: "
                            "generator.anomaly_rate_per_day)")
    fleet.add_argument("--labels", metavar="FILE",
                       help="write anomaly labels as JSON lines (building, start, end, kind)")
    bound = p.add_argument_group("bounds and pace")
    bound.add_argument("--duration", metavar="SPAN",
                       help="event time to produce, e.g. 30m, 2h, 7d (realtime: also wall time)")
    bound.add_argument("--count", type=int, metavar="N", help="stop after N readings")
    bound.add_argument("--start", metavar="ISO",
                       help="event time of the first step (backfill default: now - duration)")
    bound.add_argument("--demo-history", type=float, metavar="DAYS",
                       help="backfill: the demo fleet's DAYS before the demo would start now "
                            "(its large buildings; the history `local run` seeds)")
    bound.add_argument("--demo", action="store_true",
                       help="buildings: the demo fleet (its large buildings), as `local run` "
                            "simulates it")
    bound.add_argument("--rate", type=float, metavar="PER_SECOND",
                       help="readings/s of this replica: realtime derives the interval from it "
                            "(buildings / rate); backfill and replay are capped at it")
    replay = p.add_argument_group("replay")
    replay.add_argument("--input", metavar="FILE", help="canonical CSV or Parquet file")
    replay.add_argument("--speedup", type=float, default=1.0,
                        help="event seconds per wall second (default 1; 0 = as fast as possible)")
    replay.add_argument("--weather-input", metavar="FILE",
                        help="weather CSV (site, timestamp, temperature, humidity) sent to "
                             "kafka.weather_topic in step with the readings' event time")
    replay.add_argument("--on-bad-row", choices=("skip", "reject"), default="skip",
                        help="skip bad rows (each reported with its line) or reject the file "
                             "before sending anything")
    conv = p.add_argument_group("convert")
    conv.add_argument("--dataset", choices=DATASETS,
                      help="dataset layout to convert: cambridge (the Cambridge Estates "
                           "archive, electricity and Bedford weather) or meters (a meter "
                           "export: one CSV per meter with a time and a kWh column, no "
                           "weather)")
    conv.add_argument("--source", metavar="DIR",
                      help="the dataset's folder (cambridge default: the slice shipped with "
                           "wattstream, buildings b0-b7 from 2019-11-11 to 2019-11-24; meters "
                           "default: that slice's electricity_2019/ meter files)")
    conv.add_argument("--weather-output", metavar="FILE",
                      help="cambridge: write the weather to this CSV for --weather-input and "
                           "leave it out of the readings, as a meter export would")
    conv.add_argument("--output", metavar="FILE", help="canonical .csv or .parquet to write")
    conv.add_argument("--end", metavar="ISO", help="convert only readings before this time")
    out = p.add_argument_group("output")
    out.add_argument("--summary", metavar="FILE", help="also write the final summary (JSON) here")
    out.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=generate)


def options(args: argparse.Namespace, cfg) -> object:
    """Validated run options from the command line and the config."""
    from .fleet import replica_identity
    from .run import Options

    g = cfg.generator
    if args.rate is not None and not args.rate > 0:
        raise WattstreamError(f"--rate must be > 0 readings/s, got {args.rate:g}")
    if args.count is not None and args.count < 1:
        raise WattstreamError(f"--count must be >= 1, got {args.count}")
    if args.speedup < 0:
        raise WattstreamError(f"--speedup must be >= 0, got {args.speedup:g}")
    buildings = g.buildings if args.buildings is None else args.buildings
    if buildings < 1:
        raise WattstreamError(f"--buildings must be >= 1, got {buildings}")
    interval = g.interval_seconds if args.interval is None else args.interval
    if not interval > 0:
        raise WattstreamError(f"--interval must be > 0 seconds, got {interval:g}")
    if args.mode == "realtime" and args.rate is not None:
        if args.interval is not None:
            raise WattstreamError("give --interval or --rate in realtime mode, not both")
        interval = buildings / args.rate
    anomaly_rate = g.anomaly_rate_per_day if args.anomaly_rate is None else args.anomaly_rate
    if anomaly_rate < 0:
        raise WattstreamError(f"--anomaly-rate must be >= 0, got {anomaly_rate:g}")
    if args.mode == "replay" and not args.input:
        raise WattstreamError("replay needs --input FILE (canonical CSV or Parquet)")
    start, duration = _start(args.start), (None if args.duration is None
                                           else parse_duration(args.duration))
    if args.demo_history is not None:
        if args.mode != "backfill" or args.start or args.duration:
            raise WattstreamError("--demo-history goes with backfill, without --start and "
                                  "--duration")
        start, duration = _demo_history(g, args.demo_history), args.demo_history * 86400
    return Options(
        mode=args.mode,
        replica=replica_identity(args.replica_id, g.replica_id),
        buildings=buildings,
        seed=g.seed if args.seed is None else args.seed,
        interval_s=interval,
        rate=args.rate,
        duration_s=duration,
        count=args.count,
        start=start,
        kinds=parse_kinds(g.anomaly_kinds if args.anomalies is None else args.anomalies),
        anomaly_rate=anomaly_rate,
        labels=args.labels or g.labels_path or None,
        input=args.input,
        speedup=args.speedup,
        on_bad_row=args.on_bad_row,
        summary=args.summary,
        progress=not args.no_progress,
        demo=g.demo,
        demo_fleet=args.demo_history is not None,
        demo_start=parse_timestamp(g.demo_start) if g.demo_start else None,
        weather_site=g.weather_site,
        weather_interval_s=g.weather_interval_seconds,
        weather_input=args.weather_input,
    )


def generate(args: argparse.Namespace, cfg) -> int:
    opts = options(args, cfg)
    if args.mode == "convert":
        return _convert(args, cfg)
    if args.mode == "thresholds":
        return _thresholds(cfg, opts)
    if args.mode == "buildings":
        return _buildings(args, opts)
    from .run import run

    try:
        summary = run(cfg, opts)
    except WattstreamError as exc:
        if getattr(exc, "summary", None) is not None:  # stopped: the accounting still holds
            print(exc.summary.to_json(), flush=True)
        raise
    print(summary.to_json(), flush=True)
    spool = (f", {summary.spooled:,} in the spool" if summary.spooled else "") + (
        f", {summary.drained:,} from an earlier run's spool" if summary.drained else "")
    print(f"wattstream generate: {summary.mode} sent {summary.sent:,} readings "
          f"({summary.acknowledged:,} acknowledged{spool}, {summary.send_errors} errors, "
          f"{summary.bad_rows} bad rows skipped, {summary.labels} labels) in "
          f"{summary.seconds:.1f} s, {summary.readings_per_second:,.0f}/s", file=sys.stderr)
    if summary.send_errors:
        raise WattstreamError(f"{summary.send_errors} readings failed to send (first: "
                              f"{summary.first_error}); they are in the spool and go first at "
                              f"the next start")
    return 0


def _convert(args: argparse.Namespace, cfg) -> int:
    from ..localtime import Calendar
    from .datasets import convert_cambridge, convert_meters

    zones = Calendar(cfg)  # each row's day_of_week and hour: its building's local ones

    if not args.dataset or not args.output:
        raise WattstreamError("convert needs --dataset and --output FILE")
    if args.dataset == "meters":
        if args.weather_output:
            raise WattstreamError("--weather-output: a meter export has no weather")
        source = args.source or str(CAMBRIDGE_SLICE / "electricity_2019")
        s = convert_meters(source, args.output, _start(args.start), _start(args.end),
                           zones)
        print(f"wattstream generate convert: wrote {s.rows:,} readings of {s.buildings} meters "
              f"to {args.output} (no weather); {s.missing_dropped:,} empty readings left out",
              file=sys.stderr)
        return 0
    s = convert_cambridge(args.source or str(CAMBRIDGE_SLICE), args.output, args.buildings,
                          _start(args.start), _start(args.end), args.weather_output, zones)
    print(f"wattstream generate convert: wrote {s.rows:,} readings of {s.buildings} buildings "
          f"to {args.output}; dropped {s.zeros_dropped:,} zero readings (missing at source) "
          f"and {s.no_weather_dropped:,} without weather"
          + (f"; {s.weather:,} weather observations to {args.weather_output}"
             if args.weather_output else ""), file=sys.stderr)
    return 0


def _thresholds(cfg, opts) -> int:
    from .fleet import building_ids
    from .thresholds import fleet_thresholds

    ids = building_ids(opts.replica, opts.buildings)
    table = fleet_thresholds(cfg, ids, opts.seed, opts.replica)
    print(f"# per-building thresholds for replica {opts.replica} ({len(table)} of {len(ids)} "
          f"buildings stay below alerts.high_consumption_kwh={cfg.alerts.high_consumption_kwh:g})")
    print(yaml.safe_dump({"alerts": {"buildings": table}}, sort_keys=False), end="")
    return 0


def _buildings(args: argparse.Namespace, opts) -> int:
    """The fleet's metadata (METADATA_COLUMNS) as CSV: the simulated fleet of this replica,
    or a dataset's buildings (`--dataset cambridge`: floor areas from its archive)."""
    import csv
    import io

    if args.dataset == "cambridge":
        from .datasets import cambridge_buildings

        rows = cambridge_buildings(args.source or str(CAMBRIDGE_SLICE))
    elif args.dataset:
        raise WattstreamError(f"buildings --dataset {args.dataset}: a meter export has no "
                              "building metadata")
    else:
        from . import demo
        from .fleet import building_ids
        from .model import Buildings

        ids = building_ids(opts.replica, opts.buildings)
        fleet = Buildings(ids, opts.seed, demo.fixed(len(ids))
                          if args.demo or opts.demo else None)
        rows = list(zip(fleet.ids, fleet.type_names, fleet.area.tolist(), strict=True))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(METADATA_COLUMNS)
    w.writerows(rows)
    if args.output:
        Path(args.output).write_text(buf.getvalue())
        print(f"wattstream generate buildings: wrote {len(rows)} buildings to {args.output}",
              file=sys.stderr)
    else:
        sys.stdout.write(buf.getvalue())
    return 0
