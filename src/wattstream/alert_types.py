"""The alert types, declared once: the `type` of every alert on Kafka, in Parquet, in metrics
and in Alertmanager, with what people see of it.

The job raises them (`job.alerts`, `job.detect`, `job.peak`) and notifies Alertmanager
(`job.notify`); the live view, the report and the scorer read them; the chart's
PrometheusRule reads `charts/wattstream/files/alert-types.yaml`, which `make chart-docs` writes
from this table (`charts/wattstream/gen_alert_types.py`; a test keeps the two equal). A new
type is one `AlertType` here plus the rule that raises it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

CATEGORIES = ("consumption", "demand", "baseline", "data_quality", "platform")
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class AlertType:
    name: str  # the alert's `type` and Alertmanager's `alertname`
    severity: str  # SEVERITIES: Alertmanager's `severity` label
    category: str  # CATEGORIES: routes data quality apart from energy
    unit: str  # what `value` and `threshold` measure
    short: str  # the live view's narrow column
    colour: str  # the report's charts (hex)
    summary: str  # one line; {building} and the alert's fields fill in (`text`)
    description: str
    prometheus_alert: str  # the PrometheusRule alert counting it from wattstream_alerts_total

    def text(self, template: str, alert: dict, site: str = "") -> str:
        """`summary` or `description` of one alert (its fields, `building`, `site`, `unit`,
        `window` as 'HH:MM–HH:MM')."""
        ws, we = alert.get("window_start"), alert.get("window_end")
        window = f"{ws:%Y-%m-%d %H:%M}–{we:%H:%M} UTC" if ws is not None and we is not None else ""
        fields = {k: v for k, v in alert.items() if v is not None and v == v}  # not NaN
        fields.update(building=alert.get("building_id", ""), site=site or "-", unit=self.unit,
                      window=window)
        return template.format_map(_Lenient(fields))


class _Unknown:
    def __format__(self, spec: str) -> str:  # a field an alert lacks prints as '?'
        return "?"


class _Lenient(dict):
    def __missing__(self, key: str) -> _Unknown:
        return _Unknown()


TABLE = (
    AlertType("HIGH_CONSUMPTION", "warning", "consumption", "kWh", "HIGH", "#f2c14e",
              "Building {building}: high consumption",
              "{building} used {value:.1f} {unit} in the window {window}, past its "
              "threshold of {threshold:.1f} {unit}.",
              "WattstreamHighConsumption"),
    AlertType("PEAK_DEMAND", "critical", "demand", "kWh", "PEAK", "#d1495b",
              "Building {building}: peak demand",
              "{building} used {value:.1f} {unit} in the window {window}, past its peak "
              "demand threshold of {threshold:.1f} {unit}: shed load now.",
              "WattstreamPeakDemand"),
    AlertType("ABNORMAL_USAGE", "warning", "baseline", "kWh", "ABNORMAL", "#8d5fd3",
              "Building {building}: abnormal usage",
              "{building} used {value:.1f} {unit} in the window {window}, far above what its "
              "baseline expects for the hour and weather.",
              "WattstreamAbnormalUsage"),
    AlertType("STUCK_METER", "info", "data_quality", "min", "STUCK", "#00798c",
              "Building {building}: meter stuck on one value",
              "{building}'s meter has repeated one value for {value:.0f} {unit} (limit "
              "{threshold:.0f} {unit}) up to the window {window}.",
              "WattstreamStuckMeter"),
    AlertType("METER_GAP", "info", "data_quality", "s", "GAP", "#6c757d",
              "Building {building}: meter sent nothing",
              "{building}'s meter has sent nothing for {value:.0f} {unit} (limit "
              "{threshold:.0f} {unit}) after the window {window}.",
              "WattstreamMeterGap"),
    AlertType("PEAK_AT_RISK", "critical", "demand", "kW", "AT RISK", "#edae49",
              "Building {building}: about to set this month's demand peak",
              "{building}'s billing interval {window} is projected at {value:.1f} {unit}, past "
              "the month's peak of {threshold:.1f} {unit}, with {lead_minutes:.0f} min left.",
              "WattstreamPeakAtRisk"),
)
BY_NAME = {t.name: t for t in TABLE}
HIGH, PEAK, ABNORMAL, STUCK, GAP, PEAK_AT_RISK = (t.name for t in TABLE)
TYPES = tuple(BY_NAME)
# What `value` and `threshold` measure, where not kWh.
UNITS = {t.name: t.unit for t in TABLE if t.unit != "kWh"}


def check() -> None:
    """The table's own rules (run by the tests and at import of the chart file's writer)."""
    for t in TABLE:
        if t.severity not in SEVERITIES or t.category not in CATEGORIES:
            raise ValueError(f"alert type {t.name}: severity {t.severity!r} or category "
                             f"{t.category!r} unknown")
    if len(BY_NAME) != len(TABLE):
        raise ValueError("alert types: a name is declared twice")


def chart_table() -> list[dict]:
    """What the chart's PrometheusRule needs of each type (`files/alert-types.yaml`)."""
    check()
    out = []
    for t in TABLE:
        row = {k: v for k, v in asdict(t).items()
               if k in ("name", "severity", "category", "unit", "prometheus_alert")}
        # Prometheus's template language names the building label.
        row["summary"] = t.summary.replace("{building}", "{{ $labels.building }}")
        out.append(row)
    return out
