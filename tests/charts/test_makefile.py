"""The cluster targets of the Makefile are wired and pinned (they need Docker, so CI checks them
with `make -n`, which prints the commands without running them)."""

from __future__ import annotations

import subprocess

from .conftest import CHART, ROOT, one


def _dry_run(*targets: str) -> str:
    proc = subprocess.run(["make", "-n", *targets], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_kind_up_uses_a_private_kubeconfig_and_pinned_operators():
    out = _dry_run("kind-up")
    assert "create cluster --name wattstream --config kind-config.yaml --kubeconfig" in out
    assert "strimzi-kafka-operator" in out and "--version 1.2.0" in out
    assert "--version 2.5.2" in out and "spark.jobNamespaces={wattstream}" in out
    assert "kube-prometheus-stack" in out and "--version 90.2.0" in out
    assert "load docker-image wattstream/generator:0.1.0-kind wattstream/job:0.1.0-kind" in out
    assert ":latest" not in out


def test_kind_up_makes_grafana_file_the_dashboard_in_its_folder(render):
    """The sidecar reads the chart's folder annotation only when told its name, and files
    dashboards into folders only with foldersFromFilesStructure; the README says the same."""
    cm = one(render("values.yaml"), "ConfigMap", "-wattstream-energy")
    [annotation] = cm["metadata"]["annotations"]
    flags = [f"grafana.sidecar.dashboards.folderAnnotation={annotation}",
             "grafana.sidecar.dashboards.provider.foldersFromFilesStructure=true",
             "grafana.sidecar.dashboards.searchNamespace=ALL"]
    out = _dry_run("kind-up")
    readme = (CHART / "README.md").read_text()
    for flag in flags:
        assert f"--set {flag}" in out
        assert flag in readme


def test_deploy_and_k8s_test_use_the_kind_values_and_kubeconfig():
    out = _dry_run("deploy", "k8s-test", "kind-down")
    assert "upgrade --install ws charts/wattstream -n wattstream" in out
    assert "-f charts/wattstream/values-kind.yaml" in out
    assert "KUBECONFIG=" in out and "pytest k8s-tests" in out
    assert ".run/kind-wattstream.kubeconfig" in out


def test_test_builds_the_chart_tools_first():
    prerequisites = next(line for line in (ROOT / "Makefile").read_text().splitlines()
                         if line.startswith("test:"))
    assert "k8s-tools" in prerequisites
