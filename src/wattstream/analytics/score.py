"""Detection scored against ground truth: stored alerts against the generator's anomaly labels.

    wattstream score --labels labels.jsonl [--since ISO] [--until ISO] [--json out.json]

Each anomaly kind has the alert type that should report it (`EXPECTED`): usage anomalies are
ABNORMAL_USAGE, a frozen meter STUCK_METER, a dropout METER_GAP. An alert of those types
matches a label of the same building when its event time lies in the labelled event, or up
to `tolerance` after it ends (a window closes after its end). Then:

  - per anomaly kind: labels, detected (by the expected type), recall, detection delay (the
    first matching alert's event time minus the event's start) median and p90;
  - per alert type: alerts, correct (they match a label of a kind they should report), other
    kind (they match a label of another kind: mislabelled), false (no label), precision;
  - overall precision, recall and F1 over the detecting types, and the false ABNORMAL_USAGE per
    building-month of the scored period.

Threshold alerts (HIGH_CONSUMPTION, PEAK_DEMAND) are limits, not detectors: counted, not scored.

`peak_warnings` scores PEAK_AT_RISK against the stored windows themselves: which billing
intervals set a new month-to-date peak, the share of them warned before they ended, the lead
time, and the share of warnings that came before a new peak.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..alert_types import ABNORMAL, GAP, PEAK_AT_RISK, STUCK
from ..billing import billing_month, interval_demand

EXPECTED = {"hvac_overnight": ABNORMAL, "equipment_spike": ABNORMAL,
            "stuck_meter": STUCK, "sensor_dropout": GAP}
DETECTORS = (ABNORMAL, STUCK, GAP)
DAYS_PER_MONTH = 30.44
TOLERANCE = pd.Timedelta(minutes=10)


@dataclass
class Result:
    period: dict
    kinds: list[dict] = field(default_factory=list)
    types: list[dict] = field(default_factory=list)
    overall: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def read_labels(path: str | Path) -> pd.DataFrame:
    """Labels as the generator writes them (one JSON object per line)."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    labels = pd.DataFrame(rows, columns=["building", "start", "end", "kind"])
    for c in ("start", "end"):
        labels[c] = pd.to_datetime(labels[c], utc=True).dt.tz_convert(None)
    return labels.rename(columns={"building": "building_id"})


def score(alerts: pd.DataFrame, labels: pd.DataFrame, *, buildings: int,
          since: pd.Timestamp, until: pd.Timestamp,
          tolerance: pd.Timedelta = TOLERANCE) -> Result:
    """`alerts` (building_id, type, event_time naive UTC) and `labels` (`read_labels`) of the
    period [since, until) over a fleet of `buildings`."""
    labels = labels[(labels["start"] >= since) & (labels["start"] < until)].reset_index(
        drop=True)
    alerts = alerts[(alerts["event_time"] >= since)
                    & (alerts["event_time"] < until + tolerance)].reset_index(drop=True)
    detecting = alerts[alerts["type"].isin(DETECTORS)].reset_index(drop=True)
    pairs = detecting.reset_index(names="alert").merge(
        labels.reset_index(names="label"), on="building_id")
    pairs = pairs[(pairs["event_time"] >= pairs["start"])
                  & (pairs["event_time"] <= pairs["end"] + tolerance)]
    right = pairs[pairs["kind"].map(EXPECTED) == pairs["type"]]
    correct = set(right["alert"])
    other = set(pairs["alert"]) - correct

    kinds = []
    first = right.groupby("label")["event_time"].min()
    for kind, expected in EXPECTED.items():
        of_kind = labels[labels["kind"] == kind]
        found = first.reindex(of_kind.index).dropna()
        delays = pd.Series([(found[i] - of_kind.at[i, "start"]).total_seconds() / 60
                            for i in found.index], dtype="float64")
        kinds.append({"kind": kind, "alert_type": expected, "labels": len(of_kind),
                      "detected": len(found), "recall": _ratio(len(found), len(of_kind)),
                      "delay_median_min": _q(delays, 0.5), "delay_p90_min": _q(delays, 0.9)})

    types = []
    for t in sorted(alerts["type"].unique(), key=lambda t: (t not in DETECTORS, t)):
        idx = set(detecting.index[detecting["type"] == t])
        n = int((alerts["type"] == t).sum())
        if t not in DETECTORS:
            types.append({"type": t, "alerts": n, "scored": False})
            continue
        ok, wrong = len(idx & correct), len(idx & other)
        types.append({"type": t, "alerts": n, "scored": True, "correct": ok,
                      "other_kind": wrong, "false": n - ok - wrong,
                      "precision": _ratio(ok, n)})

    p = _ratio(len(correct), len(detecting))
    r = _ratio(sum(k["detected"] for k in kinds), len(labels))
    months = buildings * (until - since) / pd.Timedelta(days=DAYS_PER_MONTH)
    false_abnormal = sum(t.get("false", 0) for t in types if t["type"] == ABNORMAL)
    overall = {"precision": p, "recall": r,
               "f1": None if p is None or r is None or p + r == 0 else 2 * p * r / (p + r),
               "labels": len(labels), "alerts": len(detecting),
               "building_months": round(months, 2),
               "false_abnormal_per_building_month": _ratio(false_abnormal, months)}
    period = {"since": since.isoformat() + "Z", "until": until.isoformat() + "Z",
              "buildings": buildings, "tolerance_min": tolerance.total_seconds() / 60}
    return Result(period, kinds, types, overall)


def peak_warnings(windows: pd.DataFrame, alerts: pd.DataFrame, *, interval_s: int,
                  length_s: int, billing_day: int, min_history_hours: float,
                  since: pd.Timestamp, until: pd.Timestamp) -> dict:
    """PEAK_AT_RISK against the new monthly peaks the stored windows (`building_id`,
    `window_start`, `energy_kwh`) show in [since, until); the months' history counts from
    their first interval."""
    d = interval_demand(windows, interval_s, length_s).sort_values(["building_id", "iv"],
                                                                   ignore_index=True)
    d["month"] = billing_month(d["iv"].to_numpy(), billing_day)
    g = d.groupby(["building_id", "month"])["kw"]
    d["peak_before"] = g.transform(lambda s: s.cummax().shift(1))
    d["history_h"] = d.groupby(["building_id", "month"]).cumcount() * interval_s / 3600
    start = pd.to_datetime(d["iv"], unit="s")
    d = d[(start >= since) & (start < until)]
    new = d[(d["kw"] > d["peak_before"]) & (d["history_h"] >= min_history_hours)]
    warn = alerts[alerts["type"] == PEAK_AT_RISK]
    warn = warn.assign(iv=(pd.to_datetime(warn["window_start"]) - pd.Timestamp(0))
                       // pd.Timedelta(seconds=1))
    warn = warn[(pd.to_datetime(warn["window_start"]) >= since)
                & (pd.to_datetime(warn["window_start"]) < until)]
    warn = warn.assign(lead=((pd.to_datetime(warn["iv"] + interval_s, unit="s")
                              - warn["event_time"]).dt.total_seconds() / 60))
    warn = warn[warn["lead"] > 0]
    hits = new.merge(warn[["building_id", "iv", "lead"]], on=["building_id", "iv"])
    right = warn.merge(new[["building_id", "iv"]], on=["building_id", "iv"])
    return {"new_peaks": len(new), "warned": len(hits),
            "share_warned": _ratio(len(hits), len(new)),
            "lead_median_min": _q(hits["lead"], 0.5), "lead_min_min": _q(hits["lead"], 0.0),
            "warnings": len(warn), "precision": _ratio(len(right), len(warn))}


def peak_table(p: dict) -> str:
    return (f"PEAK_AT_RISK: {p['warned']} of {p['new_peaks']} new monthly peaks warned before "
            f"they were set ({_pct(p['share_warned'])}), lead median "
            f"{_min(p['lead_median_min'])}; {p['warnings']} warnings, "
            f"{_pct(p['precision'])} of them before a new peak")


def table(result: Result) -> str:
    """The result as plain-text tables."""
    o = result.overall
    lines = [f"period {result.period['since']} to {result.period['until']}, "
             f"{result.period['buildings']} buildings ({o['building_months']} building-months)",
             "", f"{'anomaly kind':<16} {'reported as':<15} {'labels':>7} {'detected':>9} "
             f"{'recall':>7} {'delay p50':>10} {'p90':>8}"]
    for k in result.kinds:
        lines.append(f"{k['kind']:<16} {k['alert_type']:<15} {k['labels']:>7} "
                     f"{k['detected']:>9} {_pct(k['recall']):>7} "
                     f"{_min(k['delay_median_min']):>10} {_min(k['delay_p90_min']):>8}")
    lines += ["", f"{'alert type':<17} {'alerts':>7} {'correct':>8} {'other kind':>11} "
              f"{'false':>6} {'precision':>10}"]
    for t in result.types:
        if not t["scored"]:
            lines.append(f"{t['type']:<17} {t['alerts']:>7}   (a threshold: not scored)")
            continue
        lines.append(f"{t['type']:<17} {t['alerts']:>7} {t['correct']:>8} "
                     f"{t['other_kind']:>11} {t['false']:>6} {_pct(t['precision']):>10}")
    lines += ["", f"overall: precision {_pct(o['precision'])}, recall {_pct(o['recall'])}, "
              f"F1 {_num(o['f1'])}; false ABNORMAL_USAGE per building-month "
              f"{_num(o['false_abnormal_per_building_month'])}"]
    return "\n".join(lines)


def _ratio(a: float, b: float) -> float | None:
    return None if not b else float(a) / float(b)


def _q(values: pd.Series, q: float) -> float | None:
    return None if values.empty else round(float(np.quantile(values, q)), 1)


def _pct(v) -> str:
    return "-" if v is None else f"{v:.0%}"


def _num(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def _min(v) -> str:
    return "-" if v is None else f"{v:.1f} min"


# The recommendation rule whose evidence should show each injected kind.
RULE_FOR = {"hvac_overnight": "after_hours", "equipment_spike": "peak_shaving",
            "stuck_meter": "data_quality", "sensor_dropout": "data_quality"}


def rules_against_labels(table: pd.DataFrame, labels: pd.DataFrame) -> dict[str, dict]:
    """Which injected anomalies the recommendation rules point at (`rules.Findings.table`
    against `read_labels`), per kind:

    - `after_hours`, `peak_shaving`: a label is found when an interval of the rule's evidence
      (`when`) of the same building overlaps it; precision is the share of evidence intervals
      that overlap a label of the kind;
    - `data_quality`: a label is found when its building is flagged; precision is the share
      of flagged buildings with a label of the kind.

    Peak shaving points only at the intervals that set a month's peak, so most spikes are not
    its to find: its recall counts those that did."""
    out = {}
    for kind, rule in RULE_FOR.items():
        lab = labels[labels["kind"] == kind]
        # Peak shaving may share a row with load factor (one demand row per building).
        rows = table[table["category"] == "demand"] if rule == "peak_shaving" else table[
            table["rule"] == rule]
        if rule == "data_quality":
            flagged = set(rows["building_id"])
            found = lab["building_id"].isin(flagged)
            precise = (len(flagged & set(lab["building_id"])), len(flagged))
        else:
            spans = pd.DataFrame([(r.building_id, *w.split("/")) for r in rows.itertuples()
                                  for w in r.when], columns=["building_id", "start", "end"])
            for c in ("start", "end"):
                spans[c] = pd.to_datetime(spans[c], utc=True).dt.tz_convert(None)
            pairs = spans.reset_index().merge(lab.reset_index(), on="building_id",
                                              suffixes=("_e", "_l"))
            hit = pairs[(pairs["start_e"] < pairs["end_l"]) & (pairs["end_e"] > pairs["start_l"])]
            found = lab.index.isin(hit["index_l"])
            precise = (hit["index_e"].nunique(), len(spans))
        out[kind] = {"rule": rule, "labels": int(len(lab)), "found": int(np.sum(found)),
                     "recall": float(np.mean(found)) if len(lab) else None,
                     "evidence": precise[1], "evidence_on_a_label": precise[0],
                     "precision": precise[0] / precise[1] if precise[1] else None}
    return out
