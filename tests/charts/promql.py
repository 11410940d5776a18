"""Every PromQL expression the chart ships — alert rules and dashboard panels — in one list.

    from tests.charts.promql import expressions
    for source, name, expr in expressions():     # renders the chart's default values
        ...                                       # e.g. query a Prometheus that scrapes a run

Dashboard expressions have their Grafana variables replaced by plain PromQL, so each entry can be
sent to a Prometheus query API as it is. `metric_names(expr)` lists the series an expression reads
(what a scraped pipeline must expose for it to return data).

Labels the chart's scrape configs add and the rules rely on: `component` ("generator", "job",
"kafka") on every target, so a local Prometheus must register the generator's target with
`labels={"component": "generator"}` for `WattstreamGeneratorDown` to see it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from .conftest import API_VERSIONS, CHART, TOOLS, helm_template

# Grafana's variables and what they mean in a plain query.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "30s",
    '=~"$building"': '=~".*"',
}
_METRIC = re.compile(r"\b(wattstream_[a-z0-9_]+|up)\b(?=\s*[{\[)]|\s*$|\s*[><=!])")


def rule_groups(docs: list[dict]) -> list[dict]:
    """The rule groups of every PrometheusRule in rendered manifests."""
    return [g for d in docs if d["kind"] == "PrometheusRule" for g in d["spec"]["groups"]]


def write_rules_file(docs: list[dict], path: Path) -> Path:
    """A Prometheus rule file (the format of `rule_files`) holding the chart's rules."""
    path.write_text(yaml.safe_dump({"groups": rule_groups(docs)}, sort_keys=False))
    return path


def plain(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def dashboard_expressions() -> list[tuple[str, str]]:
    """(dashboard: panel title, plain PromQL) for every target of every dashboard file."""
    out = []
    for path in sorted((CHART / "files" / "dashboards").glob("*.json")):
        dash = json.loads(path.read_text())
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{dash['uid']}: {panel['title']}", plain(target["expr"])))
    return out


def rule_expressions(docs: list[dict]) -> list[tuple[str, str]]:
    """(alert or record name, PromQL) of every rule."""
    return [(r.get("alert") or r["record"], r["expr"]) for g in rule_groups(docs)
            for r in g["rules"]]


def expressions(docs: list[dict] | None = None, helm: str | None = None
                ) -> list[tuple[str, str, str]]:
    """(source, name, PromQL) for all rules and dashboard panels; renders the chart's defaults
    with the newest tools/helm-v* unless rendered manifests are given."""
    if docs is None:
        helm = helm or str(sorted(TOOLS.glob("helm-v*"))[-1])
        docs = [d for d in yaml.safe_load_all(helm_template(helm, api_versions=API_VERSIONS))
                if d]
    return ([("rule", n, e) for n, e in rule_expressions(docs)]
            + [("dashboard", n, e) for n, e in dashboard_expressions()])


def metric_names(expr: str) -> set[str]:
    """Series names an expression reads (histogram _bucket names included)."""
    return set(_METRIC.findall(expr))
