"""Where each alert goes: the example Alertmanager configuration the chart documents
(`charts/wattstream/examples/alertmanager.yaml`) and the local stack's (`local/alertmanager.py`)
route every alert type, and the platform's alerts, to the same receiver. amtool (Debian's
Alertmanager package) reads both, as Alertmanager would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from wattstream import alert_types
from wattstream.config import Config
from wattstream.local import alertmanager

EXAMPLE = Path(__file__).resolve().parents[2] / "charts" / "wattstream" / "examples" / \
    "alertmanager.yaml"
CASES = [({"alertname": t.name, "severity": t.severity, "category": t.category,
           "building": "B1", "site": "north"}, want)
         for t, want in zip(alert_types.TABLE, ["facilities", "facilities-critical",
                                                "facilities", "data-quality", "data-quality",
                                                "facilities-critical"], strict=True)]
CASES += [({"alertname": "WattstreamJobDown", "severity": "critical"}, "platform"),
          ({"alertname": "WattstreamKafkaDataLoss", "severity": "warning"}, "platform"),
          # the PrometheusRule's copy of an energy alert routes as the job's own
          ({"alertname": "WattstreamPeakDemand", "severity": "critical", "category": "demand",
            "building": "B1"}, "facilities-critical")]


@pytest.fixture(scope="module")
def amtool():
    found = shutil.which("amtool")
    if not found:
        pytest.fail("amtool is missing: `make prometheus` installs Debian's "
                    "prometheus-alertmanager")
    return found


@pytest.fixture(scope="module")
def local_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("am") / "alertmanager.yml"
    path.write_text(yaml.safe_dump(alertmanager.config(Config())))
    return path


def route(amtool: str, conf: Path, labels: dict) -> str:
    res = subprocess.run([amtool, "config", "routes", "test", f"--config.file={conf}",
                          *(f"{k}={v}" for k, v in labels.items())],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@pytest.mark.parametrize("which", ["example", "local"])
def test_amtool_accepts_the_configuration(amtool, local_file, which):
    conf = EXAMPLE if which == "example" else local_file
    res = subprocess.run([amtool, "check-config", str(conf)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(("labels", "want"), CASES, ids=lambda c: c.get("alertname")
                         if isinstance(c, dict) else None)
def test_both_route_each_alert_to_the_same_receiver(amtool, local_file, labels, want):
    assert route(amtool, EXAMPLE, labels) == want
    assert route(amtool, local_file, labels) == want


def test_both_inhibit_alike():
    example = yaml.safe_load(EXAMPLE.read_text())["inhibit_rules"]
    assert alertmanager.config(Config())["inhibit_rules"] == example
