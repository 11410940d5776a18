"""Fixtures of the chart tests: the tools (`make k8s-tools` installs them) and cached renders.

    def test_x(render):
        docs = render("values-kind.yaml", set={"generator.replicas": 3})

A missing tool fails the test with the command that installs it: these tests are CI's proof
that the chart renders, validates and alerts, so they never skip silently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "wattstream"
# The operators' CRDs, vendored so validation needs nothing outside the checkout.
CRDS = ROOT / "k8s-tests" / "crds"
TOOLS = ROOT / "tools"
KUBE_VERSION = "1.33.0"
NAMESPACE = "wattstream"
RELEASE = "ws"
# APIs a cluster with the operators installed serves; `helm template` knows none by itself.
API_VERSIONS = ("monitoring.coreos.com/v1", "kafka.strimzi.io/v1", "sparkoperator.k8s.io/v1beta2")
# Every install scenario rendered and validated: the defaults, the two profiles, ci/*.
SCENARIOS = ["values.yaml", "values-kind.yaml", "values-production.yaml"] + sorted(
    f"ci/{p.name}" for p in (CHART / "ci").glob("*-values.yaml"))


def tool(name: str, *candidates: Path) -> str:
    """Path of a tool: $<NAME> env, then the given candidates, then PATH; else fail clearly."""
    env = os.environ.get(name.upper().replace("-", "_"))
    for c in ([Path(env)] if env else []) + list(candidates):
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"{name} not found: run `make k8s-tools` (or set ${name.upper()})")


def _versioned(prefix: str) -> list[Path]:
    return sorted(TOOLS.glob(f"{prefix}-v*"), reverse=True)


@pytest.fixture(scope="session")
def helm() -> str:
    return tool("helm", *_versioned("helm"))


@pytest.fixture(scope="session")
def promtool() -> str:
    return tool("promtool", Path("/usr/bin/promtool"))


@pytest.fixture(scope="session")
def checkov() -> str:
    return tool("checkov", TOOLS / "checkov-venv" / "bin" / "checkov")


@pytest.fixture(scope="session")
def hadolint() -> str:
    return tool("hadolint", ROOT / ".venv" / "bin" / "hadolint")


@pytest.fixture(scope="session")
def kube_score() -> str:
    return tool("kube-score", *_versioned("kube-score"))


class HelmError(Exception):
    """`helm template` refused the values; the message is helm's."""


def helm_template(helm: str, *values: str, set: dict | None = None,
                  api_versions: tuple[str, ...] = API_VERSIONS) -> str:
    cmd = [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
           "--kube-version", KUBE_VERSION]
    for a in api_versions:
        cmd += ["--api-versions", a]
    for v in values:
        if v != "values.yaml":
            cmd += ["-f", str(CHART / v)]
    for k, v in (set or {}).items():
        cmd += ["--set-json", f"{k}={json.dumps(v)}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode:
        raise HelmError(proc.stderr.strip())
    return proc.stdout


@pytest.fixture(scope="session")
def render(helm):
    """render(*values_files, set={dotted: value}, api_versions=...) -> list of manifests."""
    cache: dict = {}

    def _render(*values: str, set: dict | None = None,
                api_versions: tuple[str, ...] = API_VERSIONS) -> list[dict]:
        key = (values, json.dumps(set or {}, sort_keys=True), api_versions)
        if key not in cache:
            text = helm_template(helm, *values, set=set, api_versions=api_versions)
            cache[key] = [d for d in yaml.safe_load_all(text) if d]
        return cache[key]

    return _render


def find(docs: list[dict], kind: str, name_suffix: str = "") -> list[dict]:
    """Manifests of one kind whose name ends with name_suffix."""
    return [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]


def one(docs: list[dict], kind: str, name_suffix: str = "") -> dict:
    found = find(docs, kind, name_suffix)
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {len(found)}"
    return found[0]
