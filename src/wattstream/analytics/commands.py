"""`wattstream score`: stored alerts against anomaly labels."""

from __future__ import annotations

import json

import pandas as pd

from ..config import Config, resolve_uri
from ..errors import WattstreamError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "score", help="score stored alerts against anomaly labels (precision, recall, F1)",
        description="Match the alerts under <storage.uri>/alerts against the generator's "
                    "anomaly labels: precision, recall, F1 and detection delay per anomaly "
                    "kind and alert type, as a table (and JSON with --json). The period "
                    "defaults to the stored windows a baseline model scored.")
    p.add_argument("--labels", required=True, metavar="FILE",
                   help="JSON-lines labels (`wattstream generate --labels`)")
    p.add_argument("--since", metavar="ISO", help="start of the scored period (UTC)")
    p.add_argument("--until", metavar="ISO", help="end of the scored period (UTC)")
    p.add_argument("--tolerance-minutes", type=float, default=10.0,
                   help="an alert up to this long after a labelled event still matches it")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    p.set_defaults(func=_score)


def _ts(text: str | None) -> pd.Timestamp | None:
    if not text:
        return None
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        raise WattstreamError(f"not an ISO 8601 time: {text!r}") from None
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts


def stored(spark, cfg: Config, name: str):
    folder = resolve_uri(cfg.storage.uri).rstrip("/") + "/" + name
    try:
        return spark.read.parquet(folder)
    except Exception:  # noqa: BLE001 - AnalysisException: nothing stored there
        return None


def _score(args, cfg: Config) -> int:
    from pyspark.sql import functions as F

    from .. import spark as session
    from . import score

    labels = score.read_labels(args.labels)
    spark = session.build(cfg, app_name="wattstream-score", ui=False)
    try:
        windows = stored(spark, cfg, "windows")
        if windows is None:
            raise WattstreamError("no stored windows: run the job first")
        scored = windows.where(F.col("expected_kwh").isNotNull()) if (
            "expected_kwh" in windows.columns) else windows.limit(0)
        span = scored.agg(F.min("window_start"), F.max("window_end")).collect()[0]
        since = _ts(args.since) or _naive(span[0])
        until = _ts(args.until) or _naive(span[1])
        if since is None or until is None:
            raise WattstreamError("no window was scored by a baseline model; give --since "
                                  "and --until")
        buildings = windows.where((F.col("window_start") >= F.lit(since))
                                  & (F.col("window_start") < F.lit(until))).select(
            "building_id").distinct().count()
        alerts = stored_alerts(spark, cfg)
        energy = windows.select("building_id", "window_start", "energy_kwh").toPandas()
    finally:
        spark.stop()
    result = score.score(alerts, labels, buildings=buildings, since=since, until=until,
                         tolerance=pd.Timedelta(minutes=args.tolerance_minutes))
    peaks = peak_score(energy, alerts, cfg, since, until)
    print(score.table(result))
    print(score.peak_table(peaks))
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(json.dumps({**json.loads(result.to_json()), "peak_warnings": peaks},
                                indent=2))
    return 0


def stored_alerts(spark, cfg: Config) -> pd.DataFrame:
    """building_id, type, event_time and window_start of the stored alerts (naive UTC)."""
    cols = ["building_id", "type", "event_time", "window_start"]
    found = stored(spark, cfg, "alerts")
    out = found.select(*cols).toPandas() if found is not None else pd.DataFrame(columns=cols)
    for c in ("event_time", "window_start"):
        out[c] = pd.to_datetime(out[c])
    return out


def peak_score(windows: pd.DataFrame, alerts: pd.DataFrame, cfg: Config,
               since: pd.Timestamp, until: pd.Timestamp) -> dict:
    from . import score

    windows = windows.assign(window_start=pd.to_datetime(windows["window_start"]))
    return score.peak_warnings(windows, alerts,
                               interval_s=cfg.tariff.demand_interval_minutes * 60,
                               length_s=cfg.windows.length_seconds,
                               billing_day=cfg.tariff.billing_day,
                               min_history_hours=cfg.alerts.peak_min_history_hours,
                               since=since, until=until)


def _naive(value) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts
