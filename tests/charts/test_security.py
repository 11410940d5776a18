"""Security checks of the rendered manifests: checkov, with every skipped check explained."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from .conftest import SCENARIOS, helm_template

SKIPS = yaml.safe_load((Path(__file__).parent / "checkov_skips.yaml").read_text())


def test_every_skipped_check_has_a_reason():
    assert SKIPS and all(isinstance(r, str) and len(r) > 40 for r in SKIPS.values())


def test_checkov_finds_nothing_in_any_scenario(helm, checkov, tmp_path):
    for scenario in SCENARIOS:
        name = Path(scenario).name.removesuffix(".yaml")
        (tmp_path / f"{name}.yaml").write_text(helm_template(helm, scenario))
    proc = subprocess.run(
        [checkov, "-d", str(tmp_path), "--framework", "kubernetes", "--quiet", "--compact",
         "--skip-download", "-o", "json", "--skip-check", ",".join(SKIPS)],
        capture_output=True, text=True, timeout=180,
        env={"BC_SKIP_MAPPING": "TRUE", "PATH": "/usr/bin:/bin"})
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{f['check_id']} {f['check_name']}: {f['resource']}"
              for r in reports for f in r["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert sum(r["summary"]["passed"] for r in reports) > 500  # checkov really looked


def test_each_skip_is_still_needed(helm, checkov, tmp_path):
    """Without the skips, exactly the skipped checks fail: no stale exception lingers."""
    (tmp_path / "production.yaml").write_text(helm_template(helm, "values-production.yaml"))
    proc = subprocess.run(
        [checkov, "-d", str(tmp_path), "--framework", "kubernetes", "--quiet", "--compact",
         "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=180,
        env={"BC_SKIP_MAPPING": "TRUE", "PATH": "/usr/bin:/bin"})
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failing = {f["check_id"] for r in reports for f in r["results"]["failed_checks"]}
    assert failing == set(SKIPS)


KUBE_SCORE_IGNORES = yaml.safe_load(
    (Path(__file__).parent / "kube_score_ignores.yaml").read_text())


def _kube_score(kube_score, path, ignores):
    cmd = [kube_score, "score", str(path), "--output-format", "ci"]
    for test in ignores:
        cmd += ["--ignore-test", test]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return [line for line in proc.stdout.splitlines() if line.startswith("[CRITICAL]")]


def test_kube_score_finds_nothing_critical(helm, kube_score, tmp_path):
    """CRITICAL findings fail; WARNINGs (e.g. generator anti-affinity, a value) are allowed."""
    for scenario in SCENARIOS:
        path = tmp_path / f"{Path(scenario).name}"
        path.write_text(helm_template(helm, scenario))
        critical = _kube_score(kube_score, path, KUBE_SCORE_IGNORES)
        assert not critical, f"{scenario}:\n" + "\n".join(critical)


def test_each_kube_score_ignore_is_still_needed(helm, kube_score, tmp_path):
    path = tmp_path / "production.yaml"
    path.write_text(helm_template(helm, "values-production.yaml"))
    for test in KUBE_SCORE_IGNORES:
        others = [t for t in KUBE_SCORE_IGNORES if t != test]
        assert _kube_score(kube_score, path, others), f"{test} is ignored but never fires"
