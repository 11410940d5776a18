"""The CRDs in k8s-tests/crds are the released files of the operator versions the Makefile installs:
every file matches the sha256 in SOURCES.md, each operator's tag equals its Makefile version, and
every custom resource kind the chart can render has a vendored CRD to be validated against."""

from __future__ import annotations

import hashlib
import re

import pytest

from .conftest import CHART, CRDS, ROOT, SCENARIOS
from .validation import crd_schemas, is_custom, load_crds

# Vendored folder -> the Makefile variable pinning that operator's version.
MAKEFILE_VERSIONS = {
    "strimzi": "STRIMZI_VERSION",
    "spark-operator": "SPARK_OPERATOR_VERSION",
    "prometheus-operator": "PROMETHEUS_OPERATOR_VERSION",
}


def sources() -> dict[str, dict[str, str]]:
    """SOURCES.md's table: vendored file -> {column: value}."""
    lines = [ln for ln in (CRDS / "SOURCES.md").read_text().splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=True))
            for ln in lines[2:]]
    return {r["file"]: r for r in rows}


def makefile_var(name: str) -> str:
    m = re.search(rf"^{name}\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert m, f"{name} is not set in the Makefile"
    return m.group(1)


def test_every_vendored_file_is_listed_with_its_sha256():
    listed = sources()
    on_disk = {p.relative_to(CRDS).as_posix() for p in CRDS.rglob("*") if p.is_file()}
    assert on_disk - {"SOURCES.md"} == set(listed)
    for name, row in listed.items():
        digest = hashlib.sha256((CRDS / name).read_bytes()).hexdigest()
        assert digest == row["sha256"], f"{name} differs from its released file"


def test_each_operator_is_pinned_to_the_version_the_makefile_installs():
    by_operator: dict[str, set[tuple[str, str, str]]] = {}
    for name, row in sources().items():
        key = (row["repository"], row["tag"], row["commit"])
        by_operator.setdefault(name.split("/")[0], set()).add(key)
        assert row["licence"] == "Apache-2.0" and re.fullmatch(r"[0-9a-f]{40}", row["commit"])
    assert set(by_operator) == set(MAKEFILE_VERSIONS)
    for operator, releases in by_operator.items():
        assert len(releases) == 1, f"{operator}: files from more than one release"
        ((_, tag, _),) = releases
        pinned = makefile_var(MAKEFILE_VERSIONS[operator])
        assert tag.removeprefix("v") == pinned.removeprefix("v"), (
            f"{operator}: vendored {tag}, Makefile installs {pinned}")


def test_prometheus_operator_crds_say_the_same_version():
    pinned = makefile_var("PROMETHEUS_OPERATOR_VERSION").removeprefix("v")
    for path in (CRDS / "prometheus-operator").glob("*.yaml"):
        crd = load_crds(path)[0]
        assert crd["metadata"]["annotations"]["operator.prometheus.io/version"] == pinned


def test_every_custom_resource_in_the_templates_has_a_vendored_crd():
    # Read from the sources, so kinds behind values no scenario enables are covered too.
    text = "\n".join(p.read_text() for p in (CHART / "templates").rglob("*.yaml"))
    kinds = set(re.findall(r"^apiVersion:\s*(\S+)\s*\nkind:\s*(\S+)", text, re.M))
    custom = {k for k in kinds if is_custom(k[0])}
    assert custom and custom <= set(crd_schemas()), custom - set(crd_schemas())


@pytest.mark.parametrize("values", SCENARIOS)
def test_every_rendered_custom_resource_has_a_vendored_crd(render, values):
    kinds = {(d["apiVersion"], d["kind"]) for d in render(values) if is_custom(d["apiVersion"])}
    assert kinds <= set(crd_schemas()), kinds - set(crd_schemas())
